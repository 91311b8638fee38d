// Scenario 10: video.js 8 (its HLS engine, VHS) plays the demo, an ffmpeg ingest and a
// two-rendition group, with VHS's low-latency mode off and on (`llhls: true` is VHS's default).
// Both modes play the same stream at once, in two pages of one browser, so a scenario costs
// one playback's time.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServer, startEncoder, waitForSegment, waitFor, launchBrowser, report, fetchText, fetchWithin } from '../lib/harness.js';
import { openVideojsPage, playVideojs, videojsReport, assertVideojsPlayedWell } from '../lib/videojs.js';

// Every stream here has 30 video frames a second: the demo clip is testsrc2 at rate=30
// (scripts/make-demo-clip.sh), and so is startEncoder's source.
const FPS = 30;

// VHS 3.17.5 (video.js 8.24.1) in low-latency mode does not play this origin's streams well,
// through bugs of its own that the origin's defaults trigger: it stops at start-up or freezes
// the picture. docs/video-js.md has the evidence, a reproduction, what the origin could change
// and the setting that avoids them (`llhls: false`). The sub-test still runs and reports;
// drop `todo` once a video.js release plays them.
const LLHLS_TODO = 'VHS 3.17.5 low-latency mode: start-up refetch loop / init segment before every part (docs/video-js.md)';

// The origin's defaults: TARGETDURATION is measured from each stream (2 for these 2 s
// segments), so HOLD-BACK is 6 s and VHS without llhls plays about 7.5 s behind live.

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/**
 * Plays `src` with VHS's low-latency mode off and on at the same time, reports both, and checks
 * each as a sub-test of `t`: off must play well; on is `todo` (LLHLS_TODO).
 */
async function playBothModes(t, name, base, src) {
  const pages = [await openVideojsPage(browser, base), await openVideojsPage(browser, base)];
  try {
    const modes = [{ llhls: false }, { llhls: true }];
    // A playback that never starts throws; keep the other one's result all the same.
    const results = await Promise.all(modes.map((vhs, i) => playVideojs(pages[i], src, { vhs }).catch((e) => e)));
    for (const [i, vhs] of modes.entries()) {
      const result = results[i];
      const label = `${name}_llhls_${vhs.llhls ? 'on' : 'off'}`;
      if (!(result instanceof Error)) report(videojsReport(`videojs_${label}`, result));
      await t.test(`VHS llhls: ${vhs.llhls}`, vhs.llhls ? { todo: LLHLS_TODO } : {}, () => {
        if (result instanceof Error) throw result;
        assertVideojsPlayedWell(assert, result, { fps: FPS });
        // Off, VHS reads the playlist as a classic client: whole segments, never a part.
        if (!vhs.llhls) assert.equal(result.samples.at(-1).parts, 0, 'VHS without llhls fetched parts');
        else assert.ok(result.samples.at(-1).parts > 0, 'VHS in low-latency mode fetched no part');
      });
    }
  } finally {
    for (const page of pages) await page.close().catch(() => {});
  }
}

/**
 * Waits until `stream`'s playlist holds HOLD-BACK + TARGETDURATION of complete segments, as
 * any stream does once it has run that long. VHS without llhls starts HOLD-BACK from the end;
 * joining a younger stream it starts at the first segment and plays with 1-2 s of buffer (a
 * 2 s stall seen), which is not what a viewer of a running stream gets.
 */
async function waitForHoldBack(base, stream) {
  await waitFor(`${stream} to list HOLD-BACK of segments`, async () => {
    const playlist = await fetchText(`${base}/${stream}/index.m3u8`);
    const holdBack = Number(/[,:]HOLD-BACK=([0-9.]+)/.exec(playlist)[1]);
    const td = Number(/#EXT-X-TARGETDURATION:(\d+)/.exec(playlist)[1]);
    const listed = [...playlist.matchAll(/#EXTINF:([0-9.]+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
    return listed >= holdBack + td;
  }, 30000);
}

/**
 * The parts `stream`'s playlist lists now, each with its INDEPENDENT attribute and whether its
 * first video sample is a sync sample (ffprobe on the init section + the part).
 */
async function partIndependence(base, stream) {
  const playlist = await fetchText(`${base}/${stream}/index.m3u8`);
  const map = /#EXT-X-MAP:URI="([^"]+)"/.exec(playlist)[1];
  const init = Buffer.from(await (await fetchWithin(`${base}/${stream}/${map}`)).arrayBuffer());
  const parts = [];
  for (const m of playlist.matchAll(/^#EXT-X-PART:(.*)$/gm)) {
    const uri = /URI="([^"]+)"/.exec(m[1])[1];
    const body = Buffer.from(await (await fetchWithin(`${base}/${stream}/${uri}`)).arrayBuffer());
    const probe = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=flags',
      '-of', 'csv=p=0', '-i', 'pipe:0'],
    { input: Buffer.concat([init, body]), encoding: 'utf8', timeout: 10000, killSignal: 'SIGKILL' });
    assert.equal(probe.status, 0, `ffprobe ${uri}: ${probe.error?.message || probe.stderr}`);
    parts.push({ uri, independent: /INDEPENDENT=YES/.test(m[1]), keyFrame: probe.stdout.trim().startsWith('K') });
  }
  return parts;
}

test('video.js plays the demo stream', { timeout: 150_000 }, async (t) => {
  const server = await startServer({ demo: true });
  try {
    await waitForSegment(server.base, 'demo');
    await waitForHoldBack(server.base, 'demo');
    await playBothModes(t, 'demo', server.base, `${server.base}/demo/index.m3u8`);
  } finally {
    await server.stop();
  }
});

test('video.js plays an ffmpeg-ingested stream', { timeout: 150_000 }, async (t) => {
  const server = await startServer();
  const encoder = startEncoder(`${server.base}/ingest/cam1`);
  try {
    await waitForSegment(server.base, 'cam1');
    // VHS starts on the INDEPENDENT part before a part that is not, so the marking must be
    // right: INDEPENDENT=YES exactly on the parts that begin with a key frame (the encoder's
    // 1 s GOP makes every fifth 200 ms part one).
    const parts = await partIndependence(server.base, 'cam1');
    assert.ok(parts.length >= 5, `the playlist lists ${parts.length} parts`);
    for (const p of parts) assert.equal(p.independent, p.keyFrame, `${p.uri}: INDEPENDENT=${p.independent ? 'YES' : 'absent'}, key frame first: ${p.keyFrame}`);
    assert.ok(parts.some((p) => !p.independent), 'some parts start between key frames');
    await waitForHoldBack(server.base, 'cam1');
    await playBothModes(t, 'ffmpeg_ingest', server.base, `${server.base}/cam1/index.m3u8`);
    assert.equal(encoder.exitInfo(), null, `ffmpeg stopped: ${encoder.log()}`);
  } finally {
    await encoder.stop();
    await server.stop();
  }
});

test('video.js plays a two-rendition group from master.m3u8', { timeout: 150_000 }, async (t) => {
  const server = await startServer();
  const encoders = [['hi', '1280x720'], ['lo', '640x360']].map(([name, size]) => startEncoder(`${server.base}/ingest/live/${name}`, { size }));
  try {
    for (const name of ['hi', 'lo']) await waitForSegment(server.base, `live/${name}`);
    for (const name of ['hi', 'lo']) await waitForHoldBack(server.base, `live/${name}`);
    await playBothModes(t, 'two_renditions', server.base, `${server.base}/live/master.m3u8`);
    for (const e of encoders) assert.equal(e.exitInfo(), null, `ffmpeg stopped: ${e.log()}`);
  } finally {
    for (const e of encoders) await e.stop();
    await server.stop();
  }
});
