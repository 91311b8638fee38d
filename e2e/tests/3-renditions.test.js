// Scenario 3: a group of two renditions plays from master.m3u8, and hls.js switches between
// them at the live edge when told to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, startEncoder, waitForSegment, launchBrowser, report, fetchText, WARMUP, SECONDS } from '../lib/harness.js';
import { openPlayerPage, play, playbackReport, assertPlayedWell } from '../lib/player.js';

const RENDITIONS = [
  { name: 'hi', size: '1280x720', height: 720 },
  { name: 'lo', size: '640x360', height: 360 },
];

test('a two-rendition group plays from master.m3u8 and hls.js switches renditions', { timeout: 150_000 }, async () => {
  const server = await startServer();
  const stops = [server.stop];
  try {
    const encoders = RENDITIONS.map((r) => startEncoder(`${server.base}/ingest/live/${r.name}`, { size: r.size }));
    for (const e of encoders) stops.unshift(e.stop);
    for (const r of RENDITIONS) await waitForSegment(server.base, `live/${r.name}`);
    const master = await fetchText(`${server.base}/live/master.m3u8`);
    assert.equal((master.match(/#EXT-X-STREAM-INF:/g) || []).length, 2, master);

    const browser = await launchBrowser();
    stops.unshift(browser.close);
    const page = await openPlayerPage(browser, server.base);
    // Halfway through, ask for the other rendition (a smooth switch: hls.nextLevel).
    const switchAt = Math.floor((WARMUP + SECONDS) / 2);
    let from = null;
    let to = null;
    const result = await play(page, `${server.base}/live/master.m3u8`, {
      origin: server.base,
      onSecond: async (i, sample) => {
        if (i !== switchAt) return;
        from = sample.level;
        to = from === 0 ? 1 : 0;
        await page.evaluate((level) => (window.__hls.nextLevel = level), to);
      },
    });
    const heights = result.state.levels;
    report({
      ...playbackReport('two_renditions', result),
      levels: heights,
      switched_from: from,
      switched_to: to,
      playing_levels: result.state.playingLevels,
      final_video_height: result.samples.at(-1).videoHeight,
    });
    assertPlayedWell(assert, result);
    assert.deepEqual([...heights].sort((a, b) => a - b), [360, 720], 'the levels hls.js parsed');
    assert.ok(result.state.switched.includes(to), `LEVEL_SWITCHED to ${to}; switches: ${result.state.switched}`);
    assert.equal(result.state.playingLevels.at(-1), to, `levels at the playhead: ${result.state.playingLevels}`);
    assert.equal(result.samples.at(-1).videoHeight, heights[to], 'the picture has the new rendition\'s size');
    // The new rendition plays on: currentTime advanced in real time after the switch.
    const after = result.samples.slice(switchAt + 3);
    const advanced = after.at(-1).currentTime - after[0].currentTime;
    const wall = (after.at(-1).at - after[0].at) / 1000;
    assert.ok(advanced >= 0.9 * wall, `after the switch currentTime advanced ${advanced.toFixed(2)} s in ${wall.toFixed(2)} s`);
    for (const e of encoders) assert.equal(e.exitInfo(), null, `ffmpeg stopped: ${e.log()}`);
  } finally {
    for (const stop of stops) await stop();
  }
});
