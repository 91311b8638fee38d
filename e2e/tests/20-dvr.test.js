// Scenario 20: a DVR window. The origin records (--record-dir) and lists 3 minutes of a live
// ffmpeg push (--dvr-window 3m); hls.js in low-latency mode seeks 60 s back, plays segments
// the origin serves from the recording, then returns to the live edge at low latency.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, startEncoder, waitFor, launchBrowser, report, fetchText, requestCounts, countsSince, errorsOf } from '../lib/harness.js';
import { openPlayerPage, play, summarize } from '../lib/player.js';

/** Seconds of media a media playlist lists (its EXTINFs). */
function listedSeconds(text) {
  return text.split('\n').filter((l) => l.startsWith('#EXTINF:')).reduce((s, l) => s + parseFloat(l.slice(8)), 0);
}

test('DVR: hls.js seeks 60 s back into a 3-minute window, plays from the recording, and returns to live', { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'playlists-dvr-'));
  // A live window of 8 segments: what is more than about 30 s old is no longer in memory.
  const server = await startServer({ args: ['--record-dir', dir, '--dvr-window', '3m', '--max-segments', '8'] });
  const stops = [server.stop, async () => rmSync(dir, { recursive: true, force: true })];
  try {
    const encoder = startEncoder(`${server.base}/ingest/cam1`);
    stops.unshift(encoder.stop);
    const src = `${server.base}/cam1/index.m3u8`;
    // 75 s of live media, so that 60 s back is well inside the window and past what the
    // origin keeps in memory: those segments come from the recording.
    await waitFor('75 s of the stream', async () => listedSeconds(await fetchText(src)) >= 75, 120_000);
    const listed = await fetchText(src);
    assert.match(listed, /CAN-SKIP-UNTIL=/);
    const browser = await launchBrowser();
    stops.unshift(browser.close);
    const page = await openPlayerPage(browser, server.base);
    const before = await requestCounts(server.base);
    let seekedTo = null;
    let rewound = null;
    let backLive = null;
    const result = await play(page, src, {
      warmup: 0,
      seconds: 28,
      onSecond: async (i) => {
        if (i === 4) {
          // 60 s behind the live edge.
          seekedTo = await page.evaluate(() => {
            const t = window.__hls.liveSyncPosition - 60;
            window.__video.currentTime = t;
            return t;
          });
        }
        if (i === 14) {
          rewound = await page.evaluate(() => ({ currentTime: window.__video.currentTime, latency: window.__hls.latency }));
          await page.evaluate(() => { window.__video.currentTime = window.__hls.liveSyncPosition; });
        }
        if (i === 27) backLive = await page.evaluate(() => ({ latency: window.__hls.latency }));
      },
    });
    const counts = countsSince(before, await requestCounts(server.base));
    const { state, samples } = result;
    const live = summarize(samples.slice(22).map((s) => s.latency));
    report({
      bench: 'e2e/dvr',
      player: 'hls.js',
      sought_back_s: 60,
      rewound_latency_s: rewound && Math.round(rewound.latency * 1000) / 1000,
      rewound_played_s: rewound && Math.round((rewound.currentTime - seekedTo) * 1000) / 1000,
      back_live_latency_median_s: live.median,
      max_stall_ms: Math.round(state.maxStallMs),
      segments_loaded: state.segmentsLoaded,
      parts_loaded: state.partsLoaded,
      errors: state.errors,
      origin_requests: counts,
    });
    assert.equal(state.fatal, null, `fatal hls.js error ${state.fatal}; errors: ${state.errors.join(', ')}`);
    assert.equal(samples.length, 28, `played ${samples.length} of 28 s`);
    // After the seek: playing about a minute behind live, and moving on.
    assert.ok(rewound.latency > 50 && rewound.latency < 75, `${rewound.latency} s behind live after seeking 60 s back`);
    assert.ok(rewound.currentTime - seekedTo > 6, `played ${rewound.currentTime - seekedTo} s of the 10 after the seek`);
    // Every request was answered, the archived segments' from the recording.
    assert.deepEqual(errorsOf(counts), {}, 'the origin answered every request');
    assert.ok(state.segmentsLoaded > 0, 'whole segments were loaded for the rewound part');
    // Back at the live edge, at low latency.
    assert.ok(live.median < 3, `${live.median} s behind live after returning`);
    assert.ok(backLive.latency < 3, `${backLive.latency} s behind live at the end`);
  } finally {
    for (const stop of stops) await stop();
  }
});
