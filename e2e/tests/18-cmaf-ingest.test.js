// Scenario 18: DASH-IF Live Media Ingest (CMAF ingest, Interface-1) from two redundant
// encoders. Two identical ffmpeg processes POST the same publishing point, one long-running
// request per track (`/ingest/show/Streams(video.cmfv)`, `…(audio.cmfa)`); hls.js plays
// `/show/master.m3u8` in low-latency mode, and halfway through the encoder that started first
// is killed. The origin kept one copy of every fragment, so the other's continue the tracks:
// no error, no stall over a second, no discontinuity, no number skipped or repeated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, waitForSegment, launchBrowser, report, fetchText, sleep, playlistNumbers, WARMUP, SECONDS } from '../lib/harness.js';
import { spawnTracked } from '../lib/procs.js';
import { openPlayerPage, play, playbackReport, assertPlayedWell } from '../lib/player.js';

/**
 * One encoder of the pair: the same test pattern and tone as the other, so both send the same
 * media timestamps (each from 0) and fragments (the `tfdt` the origin keeps one copy of).
 * `-write_prft wallclock` dates them; every input is read in real time.
 */
function startCmafEncoder(base) {
  const post = (url, fragUs) => [
    '-f', 'mp4', '-movflags', 'cmaf+empty_moov+default_base_moof+frag_keyframe+skip_trailer',
    '-frag_duration', String(fragUs), '-write_prft', 'wallclock',
    '-method', 'POST', '-chunked_post', '1', url,
  ];
  const args = [
    '-hide_banner', '-nostats', '-loglevel', 'error',
    '-re', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30',
    '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-map', '0:v', '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency',
    '-pix_fmt', 'yuv420p', '-g', '30', '-keyint_min', '30', '-sc_threshold', '0',
    ...post(`${base}/ingest/show/Streams(video.cmfv)`, 200000),
    // 190 ms: nine AAC frames (192 ms), within PART-TARGET (docs/conformance.md R35).
    '-map', '1:a', '-c:a', 'aac', '-metadata:s:a:0', 'language=eng',
    ...post(`${base}/ingest/show/Streams(audio.cmfa)`, 190000),
  ];
  return spawnTracked('ffmpeg', 'ffmpeg', args, { stopSignal: 'SIGINT' });
}

/** The part numbers (`p{n}.mp4`) a playlist lists, in order. */
function partNumbers(text) {
  return [...text.matchAll(/URI="p(\d+)\.mp4"/g)].map((m) => Number(m[1]));
}

test('CMAF ingest: two redundant encoders, one killed, play on without a break', { timeout: 150_000 }, async () => {
  const server = await startServer();
  const stops = [server.stop];
  try {
    const primary = startCmafEncoder(server.base);
    stops.unshift(primary.stop);
    await sleep(300);
    const backup = startCmafEncoder(server.base);
    stops.unshift(backup.stop);
    for (const track of ['video', 'audio']) await waitForSegment(server.base, `show/${track}`);
    const master = await fetchText(`${server.base}/show/master.m3u8`);
    assert.match(master, /#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="audio",LANGUAGE="eng"/, master);
    assert.match(master, /AUDIO="audio"\nvideo\/index\.m3u8\n/, master);

    const browser = await launchBrowser();
    stops.unshift(browser.close);
    const page = await openPlayerPage(browser, server.base);
    const killAt = Math.floor((WARMUP + SECONDS) / 2);
    const playlists = {};
    let killed = null;
    const result = await play(page, `${server.base}/show/master.m3u8`, {
      origin: server.base,
      onSecond: async (i) => {
        if (i !== killAt) return;
        killed = Date.now();
        await primary.kill();
      },
    });
    // Every number since the stream started, across the failover: the parts and segments
    // listed run on one by one, with no discontinuity.
    for (const track of ['video', 'audio']) {
      const text = await fetchText(`${server.base}/show/${track}/index.m3u8`);
      const numbers = playlistNumbers(text);
      const parts = partNumbers(text);
      playlists[track] = { ...numbers, parts_listed: parts.length };
      assert.equal(numbers.discontinuities + numbers.discontinuity_sequence, 0, `${track}: a discontinuity\n${text}`);
      assert.ok(parts.length > 10 && parts.every((n, i) => i === 0 || n === parts[i - 1] + 1), `${track} parts ${parts}`);
      assert.equal(numbers.ended, false, `${track} ended though the backup still sends`);
    }
    report({
      ...playbackReport('cmaf_ingest_failover', result),
      killed_primary_at_s: killAt,
      stalls_after_kill: result.state.stallLog.filter((s) => s.startedAt + s.ms >= killed),
      playlists,
    });
    // The killed encoder's two requests ended mid-body, which the origin answers 400 (to no
    // one). That is the only error it may have given; the players' requests are checked below.
    const ingest = Object.entries(result.originRequests).filter(([k]) => k.startsWith('ingest '));
    for (const [k] of ingest) delete result.originRequests[k];
    assert.deepEqual(Object.fromEntries(ingest.filter(([k]) => k !== 'ingest 200')), { 'ingest 400': 2 }, 'ingest answers');
    assertPlayedWell(assert, result);
    assert.equal(backup.exitInfo(), null, `the backup ffmpeg stopped: ${backup.log()}`);
  } finally {
    for (const stop of stops) await stop();
  }
});
