// Scenario 2: a stream pushed by ffmpeg (the ingest issue's command) plays like the demo.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, startEncoder, waitForSegment, launchBrowser, report } from '../lib/harness.js';
import { openPlayerPage, play, playbackReport, assertPlayedWell } from '../lib/player.js';

test('an ffmpeg-ingested stream plays in hls.js in low-latency mode', { timeout: 120_000 }, async () => {
  const server = await startServer();
  const stops = [server.stop];
  try {
    const encoder = startEncoder(`${server.base}/ingest/cam1`);
    stops.unshift(encoder.stop);
    await waitForSegment(server.base, 'cam1').catch((e) => {
      throw new Error(`${e.message}\nffmpeg: ${encoder.log()}\norigin: ${server.log().slice(-4000)}`);
    });
    const browser = await launchBrowser();
    stops.unshift(browser.close);
    const page = await openPlayerPage(browser, server.base);
    const result = await play(page, `${server.base}/cam1/index.m3u8`, { origin: server.base });
    report(playbackReport('ffmpeg_ingest', result));
    assertPlayedWell(assert, result);
    assert.equal(encoder.exitInfo(), null, `ffmpeg stopped: ${encoder.log()}`);
  } finally {
    for (const stop of stops) await stop();
  }
});
