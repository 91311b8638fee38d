// Scenario 19: SRT ingest. ffmpeg (built with libsrt) publishes MPEG-TS over SRT to the
// origin's listener (`srt://127.0.0.1:PORT?streamid=publish:live/cam1`, 200 ms SRT latency);
// the origin's packager cuts it into CMAF parts and hls.js plays it in low-latency mode, and
// how far behind live it plays goes into docs/latency.md. The SRT stream carries no wall
// clock, so the dates (and `behind PDT`) start at the origin's receipt: they leave out the SRT
// latency, which a viewer's glass-to-glass delay includes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, waitForSegment, launchBrowser, report, fetchText, freePort } from '../lib/harness.js';
import { spawnTracked } from '../lib/procs.js';
import { openPlayerPage, play, playbackReport, assertPlayedWell } from '../lib/player.js';

/** ffmpeg's test pattern and tone as MPEG-TS over SRT: x264 with B-frames, a 1 s GOP, AAC. */
function startSrtEncoder(url) {
  const args = [
    '-hide_banner', '-nostats', '-loglevel', 'error',
    '-re', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30',
    '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-bf', '2',
    '-g', '30', '-keyint_min', '30', '-sc_threshold', '0',
    '-c:a', 'aac',
    '-f', 'mpegts', url,
  ];
  return spawnTracked('ffmpeg', 'ffmpeg', args, { stopSignal: 'SIGINT' });
}

test('SRT ingest: ffmpeg over SRT plays in hls.js at low latency', { timeout: 150_000 }, async () => {
  const srtPort = await freePort();
  const server = await startServer({ args: ['--srt-listen', `127.0.0.1:${srtPort}`] });
  const stops = [server.stop];
  try {
    // ffmpeg's latency is in microseconds.
    const encoder = startSrtEncoder(`srt://127.0.0.1:${srtPort}?streamid=publish:live/cam1&latency=200000`);
    stops.unshift(encoder.stop);
    await waitForSegment(server.base, 'live/cam1', 30000);
    const playlist = await fetchText(`${server.base}/live/cam1/index.m3u8`);
    assert.match(playlist, /#EXT-X-TARGETDURATION:2\n/, playlist);

    const browser = await launchBrowser();
    stops.unshift(browser.close);
    const page = await openPlayerPage(browser, server.base);
    const result = await play(page, `${server.base}/live/cam1/index.m3u8`, { origin: server.base });
    const metrics = await fetchText(`${server.base}/metrics`);
    const srt = Object.fromEntries(
      [...metrics.matchAll(/^(playlists_srt_[a-z_]+)(?:\{[^}]*\})? (\d+)$/gm)].map((m) => [m[1], Number(m[2])]),
    );
    report({ ...playbackReport('srt_ingest', result), srt_metrics: srt });
    assertPlayedWell(assert, result);
    assert.equal(encoder.exitInfo(), null, `ffmpeg stopped: ${encoder.log()}`);
  } finally {
    for (const stop of stops) await stop();
  }
});
