// hls.js in a page: play a URL in low-latency mode, watch it as a viewer would (progress,
// stalls, errors, dropped frames) and measure how far behind live it plays.
import { loadavg } from 'node:os';
import { SECONDS, WARMUP, waitFor, requestCounts, countsSince, errorsOf } from './harness.js';

/**
 * hls.js settings of every playback: those of the origin's own page (`src/http/page.rs`):
 * low-latency mode and catching up to live at up to 1.5× after falling behind, otherwise
 * hls.js's defaults. E2E_HLS_CONFIG (JSON) adds or overrides settings for latency experiments
 * (docs/latency.md), e.g. '{"maxLiveSyncPlaybackRate":1}' for hls.js's default.
 */
export const hlsConfig = {
  lowLatencyMode: true,
  maxLiveSyncPlaybackRate: 1.5,
  ...JSON.parse(process.env.E2E_HLS_CONFIG || '{}'),
};

/**
 * Opens a blank page of `origin` (so playlists and media are same-origin) that loads hls.js
 * from the origin's `/assets/hls.min.js`, i.e. the copy embedded in the binary.
 */
export async function openPlayerPage(browser, origin) {
  const page = await browser.newPage();
  await page.goto(`${origin}/healthz`);
  await page.setContent('<!doctype html><html><head><title>e2e</title></head><body></body></html>');
  await page.addScriptTag({ url: '/assets/hls.min.js' });
  const ok = await page.evaluate(() => typeof Hls === 'function' && Hls.isSupported());
  if (!ok) throw new Error('hls.js did not load or reports MSE unsupported');
  return page;
}

/** In the page: a <video> playing `src` with hls.js, and a watcher filling `window.__e2e`. */
function startInPage({ src, config }) {
  const s = (window.__e2e = {
    errors: [], errorLog: [], stallLog: [], fatal: null, levels: [], switched: [], playingLevels: [],
    partsLoaded: 0, segmentsLoaded: 0, maxStallMs: 0, stalls: 0, waitingEvents: 0, started: null,
    firstLevelAt: null, firstFrameAt: null, latencyAtFirstFrame: null, frozenMs: 0,
  });
  const video = document.createElement('video');
  video.muted = true;
  video.autoplay = true;
  video.playsInline = true;
  video.width = 640;
  document.body.appendChild(video);
  const hls = new Hls(config);
  window.__hls = hls;
  window.__video = video;
  const E = Hls.Events;
  hls.on(E.ERROR, (_e, d) => {
    s.errors.push(`${d.details}${d.fatal ? ' (fatal)' : ''}`);
    // When, and what the server answered: a failure in a run that restarts the origin is read
    // against the restart's timings (wall clock, as the test's).
    if (s.errorLog.length < 100) {
      s.errorLog.push({
        at: Date.now(), details: d.details, fatal: d.fatal, status: d.response?.code ?? null,
        url: d.url || d.context?.url || d.frag?.url || null, reason: d.reason || d.error?.message || null,
      });
    }
    if (d.fatal && !s.fatal) s.fatal = `${d.type}/${d.details}`;
  });
  hls.on(E.MANIFEST_PARSED, (_e, d) => (s.levels = d.levels.map((l) => l.height)));
  hls.on(E.LEVEL_SWITCHED, (_e, d) => s.switched.push(d.level));
  // The level of the fragment at the playhead: what the viewer actually sees.
  hls.on(E.FRAG_CHANGED, (_e, d) => {
    if (s.playingLevels.at(-1) !== d.frag.level) s.playingLevels.push(d.frag.level);
  });
  hls.on(E.FRAG_LOADED, (_e, d) => {
    if (d.part) s.partsLoaded++;
    else if (d.frag.sn !== 'initSegment') s.segmentsLoaded++;
  });
  // Startup: from the first media playlist (where hls.js picks its start position) to the
  // first frame, and how far behind live that first frame is.
  hls.on(E.LEVEL_LOADED, () => s.firstLevelAt ??= performance.now());
  video.addEventListener('playing', () => {
    if (s.firstFrameAt !== null) return;
    s.firstFrameAt = performance.now();
    s.latencyAtFirstFrame = hls.latency;
  });
  video.addEventListener('waiting', () => s.waitingEvents++);
  // A stall is time during which currentTime does not move once playback has started,
  // sampled every 50 ms (a viewer notices a frozen picture, whatever the cause); `stallLog`
  // keeps when each began (wall clock) and how long it lasted.
  let lastT = -1;
  let lastMove = performance.now();
  let inStall = false;
  let lastTick = performance.now();
  setInterval(() => {
    const now = performance.now();
    const tick = now - lastTick;
    lastTick = now;
    if (video.currentTime !== lastT) {
      lastT = video.currentTime;
      lastMove = now;
      inStall = false;
      if (s.started === null && video.currentTime > 0) s.started = Date.now();
    } else if (s.started !== null && !video.paused) {
      // At 30 fps currentTime moves every 33 ms: a 50 ms tick without a move is frozen time.
      s.frozenMs += tick;
      const ms = now - lastMove;
      if (ms > 250 && !inStall) {
        inStall = true;
        s.stalls++;
        s.stallLog.push({ startedAt: Date.now() - Math.round(ms), ms: 0 });
      }
      // Each stall's start (wall clock) and length so far.
      if (inStall) s.stallLog.at(-1).ms = Math.round(ms);
      s.maxStallMs = Math.max(s.maxStallMs, ms);
    }
  }, 50);
  hls.loadSource(src);
  hls.attachMedia(video);
  video.play().catch(() => {});
}

/** In the page: one sample of the viewer-visible state. */
function sampleInPage() {
  const v = window.__video;
  const h = window.__hls;
  const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : null;
  return {
    at: Date.now(),
    currentTime: v.currentTime,
    playbackRate: v.playbackRate,
    latency: h.latency,
    targetLatency: h.targetLatency,
    // Wall clock minus EXT-X-PROGRAM-DATE-TIME of the frame on screen (same machine, same clock).
    behindPdt: h.playingDate ? (Date.now() - h.playingDate.getTime()) / 1000 : null,
    buffered: v.buffered.length ? v.buffered.end(v.buffered.length - 1) - v.currentTime : 0,
    dropped: q ? q.droppedVideoFrames : null,
    decoded: q ? q.totalVideoFrames : null,
    videoHeight: v.videoHeight,
    level: h.currentLevel,
    fatal: window.__e2e.fatal,
  };
}

/**
 * Plays `src` with hls.js on `page`: waits for the first frame, then plays `warmup` + `seconds`
 * seconds, sampling once a second. `onSecond(i, sample)` runs after each sample (i counts from
 * 0 at the first frame). Returns the samples, the page's watcher state, and median/p95 of both
 * latency measures over the samples after the warm-up. With `origin` (the origin's base URL),
 * also what the origin answered meanwhile, by route and status (from its /metrics).
 */
export async function play(page, src, { seconds = SECONDS, warmup = WARMUP, onSecond, origin } = {}) {
  const before = origin ? await requestCounts(origin) : null;
  await page.evaluate(startInPage, { src, config: hlsConfig });
  const { startupMs, samples } = await sampleEverySecond(page, sampleInPage, warmup + seconds, onSecond);
  const state = await page.evaluate(() => window.__e2e);
  const measured = samples.slice(warmup);
  const originRequests = origin ? countsSince(before, await requestCounts(origin)) : null;
  return {
    originRequests,
    samples,
    measured,
    state,
    startupMs,
    latency: summarize(measured.map((s) => s.latency)),
    behindPdt: summarize(measured.map((s) => s.behindPdt)),
  };
}

/**
 * Waits for the page's first frame (its watcher's `window.__e2e.started`, or a fatal error),
 * then runs `sampleInPage` in the page `total` times on a fixed 1 s grid, stopping at a fatal
 * error. `onSecond(i, sample)`, if given, runs after each sample. Returns the time to the first
 * frame and the samples.
 */
export async function sampleEverySecond(page, sampleInPage, total, onSecond) {
  const t0 = Date.now();
  await waitFor('the first frame', () => page.evaluate(() => window.__e2e.started !== null || window.__e2e.fatal), 20000);
  const startupMs = Date.now() - t0;
  const samples = [];
  const first = Date.now();
  for (let i = 0; i < total; i++) {
    // Sample on a fixed 1 s grid, whatever each evaluate costs.
    await page.waitForTimeout(Math.max(0, first + (i + 1) * 1000 - Date.now()));
    const sample = await page.evaluate(sampleInPage);
    samples.push(sample);
    if (onSecond) await onSecond(i, sample);
    if (sample.fatal) break;
  }
  return { startupMs, samples };
}

/** Median, p95 (nearest rank) and max of the finite numbers in `values`. */
export function summarize(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return { n: 0, median: null, p95: null, max: null };
  const rank = (q) => v[Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1))];
  const median = v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  const r3 = (x) => Math.round(x * 1000) / 1000;
  return { n: v.length, median: r3(median), p95: r3(rank(0.95)), max: r3(v[v.length - 1]) };
}

/** The JSON line of one playback. */
export function playbackReport(name, result) {
  const last = result.samples.at(-1) || {};
  return {
    bench: `e2e/${name}`,
    player: 'hls.js',
    hls_config: hlsConfig,
    startup_ms: result.startupMs,
    first_playlist_to_first_frame_ms: result.state.firstFrameAt === null || result.state.firstLevelAt === null
      ? null : Math.round(result.state.firstFrameAt - result.state.firstLevelAt),
    latency_at_first_frame_s: result.state.latencyAtFirstFrame === null ? null : Math.round(result.state.latencyAtFirstFrame * 1000) / 1000,
    played_s: result.samples.length,
    measured_s: result.measured.length,
    latency_median_s: result.latency.median,
    latency_p95_s: result.latency.p95,
    behind_pdt_median_s: result.behindPdt.median,
    behind_pdt_p95_s: result.behindPdt.p95,
    target_latency_s: last.targetLatency,
    max_stall_ms: Math.round(result.state.maxStallMs),
    stalls: result.state.stalls,
    frozen_ms_total: Math.round(result.state.frozenMs),
    waiting_events: result.state.waitingEvents,
    parts_loaded: result.state.partsLoaded,
    segments_loaded: result.state.segmentsLoaded,
    dropped_frames: last.dropped,
    decoded_frames: last.decoded,
    errors: result.state.errors,
    // The machine's 1-minute load average at the end: other work on the 2 cores shows here.
    load1: Math.round(loadavg()[0] * 100) / 100,
    ...(result.originRequests ? { origin_requests: result.originRequests } : {}),
  };
}

/**
 * What every playback must show a viewer: no fatal error, currentTime advancing in real time
 * over the whole run, no frozen picture longer than 1 s, parts fetched (low-latency mode is in
 * use, not just segments), playing within seconds of live (not HOLD-BACK behind), dropped
 * frames reported by the video element, and (when counted) no error status from the origin.
 */
export function assertPlayedWell(assert, result) {
  const { samples, state } = result;
  assert.equal(state.fatal, null, `fatal hls.js error ${state.fatal}; errors: ${state.errors.join(', ')}`);
  const wanted = WARMUP + SECONDS;
  assert.equal(samples.length, wanted, `sampled ${samples.length} of ${wanted} s`);
  const advanced = samples.at(-1).currentTime - samples[0].currentTime;
  const wall = (samples.at(-1).at - samples[0].at) / 1000;
  assert.ok(advanced >= 0.9 * wall, `currentTime advanced ${advanced.toFixed(2)} s in ${wall.toFixed(2)} s`);
  assert.ok(state.maxStallMs <= 1000, `a stall of ${state.maxStallMs.toFixed(0)} ms (${state.stalls} stalls)`);
  assert.ok(state.partsLoaded > 0, 'hls.js loaded no part: it is not playing in low-latency mode');
  const { dropped, decoded } = samples.at(-1);
  assert.equal(typeof dropped, 'number', 'dropped frames are reported');
  assert.ok(decoded >= 25 * wall, `decoded ${decoded} frames in ${wall.toFixed(1)} s`);
  assert.ok(result.latency.n > 0 && result.behindPdt.n > 0, 'latency was measured');
  // Not a speed claim: a player that fell back to whole segments would sit near HOLD-BACK
  // (12 s) behind live; low-latency playback is within a few parts of PART-HOLD-BACK.
  assert.ok(result.latency.median < 3, `${result.latency.median} s behind live: not low-latency playback`);
  if (result.originRequests) assert.deepEqual(errorsOf(result.originRequests), {}, 'the origin answered every request');
}
