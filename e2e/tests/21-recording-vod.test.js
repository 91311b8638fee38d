// Scenario 21: a recording played as VOD. An ffmpeg push is recorded (--record-dir); once the
// stream has ended, hls.js plays /recordings/…/index.m3u8 from the start to its end, every
// segment of it, without an error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, startEncoder, waitFor, waitForSegment, launchBrowser, report, fetchText, sleep } from '../lib/harness.js';
import { openPlayerPage } from '../lib/player.js';

test('a finished recording plays as VOD in hls.js from start to end', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'playlists-vod-'));
  const server = await startServer({ args: ['--record-dir', dir, '--ingest-grace-secs', '1'] });
  const stops = [server.stop, async () => rmSync(dir, { recursive: true, force: true })];
  try {
    const encoder = startEncoder(`${server.base}/ingest/cam1`);
    stops.unshift(encoder.stop);
    await waitForSegment(server.base, 'cam1');
    await sleep(10_000);
    await encoder.stop();
    let recording = null;
    await waitFor('the recording to finish', async () => {
      const { recordings } = JSON.parse(await fetchText(`${server.base}/recordings`));
      recording = recordings.find((r) => r.stream === 'cam1' && r.state === 'finished');
      return Boolean(recording);
    }, 30_000);
    const playlist = await fetchText(`${server.base}${recording.url}`);
    assert.match(playlist, /#EXT-X-PLAYLIST-TYPE:VOD\n/);
    assert.match(playlist, /#EXT-X-ENDLIST\n$/);
    const segments = playlist.split('\n').filter((l) => l.endsWith('.m4s')).length;

    const browser = await launchBrowser();
    stops.unshift(browser.close);
    const page = await openPlayerPage(browser, server.base);
    const result = await page.evaluate(async (src) => {
      const video = document.createElement('video');
      video.muted = true;
      document.body.appendChild(video);
      const hls = new Hls();
      const s = { errors: [], fatal: null, fragments: new Set(), duration: null };
      hls.on(Hls.Events.ERROR, (_e, d) => {
        s.errors.push(d.details);
        if (d.fatal) s.fatal = d.details;
      });
      hls.on(Hls.Events.FRAG_LOADED, (_e, d) => s.fragments.add(d.frag.sn));
      hls.loadSource(src);
      hls.attachMedia(video);
      hls.on(Hls.Events.MANIFEST_PARSED, () => video.play());
      const ended = await new Promise((resolve) => {
        video.addEventListener('ended', () => resolve(true));
        setTimeout(() => resolve(false), 60_000);
        const check = setInterval(() => { if (s.fatal) { clearInterval(check); resolve(false); } }, 200);
      });
      return {
        ended, fatal: s.fatal, errors: s.errors, fragments: s.fragments.size,
        duration: video.duration, currentTime: video.currentTime,
      };
    }, `${server.base}${recording.url}`);
    report({ bench: 'e2e/recording_vod', player: 'hls.js', segments, recorded_s: recording.duration_s, ...result });
    assert.equal(result.fatal, null, `fatal hls.js error; errors: ${result.errors.join(', ')}`);
    assert.ok(result.ended, `playback did not reach the end: ${JSON.stringify(result)}`);
    assert.equal(result.fragments, segments, 'every segment was loaded');
    assert.ok(Math.abs(result.duration - recording.duration_s) < 0.5, `duration ${result.duration} s, recorded ${recording.duration_s} s`);
    assert.ok(recording.duration_s >= 10, `${recording.duration_s} s recorded`);
  } finally {
    for (const stop of stops) await stop();
  }
});
