// Scenario 1: the built-in demo stream plays in hls.js in low-latency mode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, waitForSegment, launchBrowser, report } from '../lib/harness.js';
import { openPlayerPage, play, playbackReport, assertPlayedWell } from '../lib/player.js';

test('the demo stream plays in hls.js in low-latency mode', { timeout: 120_000 }, async () => {
  const server = await startServer({ demo: true });
  const stops = [server.stop];
  try {
    await waitForSegment(server.base, 'demo');
    const browser = await launchBrowser();
    stops.unshift(browser.close);
    const page = await openPlayerPage(browser, server.base);
    const result = await play(page, `${server.base}/demo/index.m3u8`, { origin: server.base });
    report(playbackReport('demo', result));
    assertPlayedWell(assert, result);
  } finally {
    for (const stop of stops) await stop();
  }
});
