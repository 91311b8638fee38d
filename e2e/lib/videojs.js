// video.js in a page: play a URL with its HLS engine (VHS) in low-latency mode or not, watch
// it as a viewer would (progress, stalls, errors, video frames decoded) and measure how far
// behind live it plays. The hls.js counterpart is player.js.
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { SECONDS, WARMUP } from './harness.js';
import { summarize, sampleEverySecond } from './player.js';

/** video.js's browser build in node_modules (video.js 8 bundles VHS). */
export const videojsDist = createRequire(import.meta.url).resolve('video.js/dist/video.min.js');

/**
 * Opens a blank page of `origin` (so playlists and media are same-origin, as with hls.js) and
 * injects video.js from node_modules into it: the origin serves only its own routes.
 */
export async function openVideojsPage(browser, origin) {
  const page = await browser.newPage();
  await page.goto(`${origin}/healthz`);
  await page.setContent('<!doctype html><html><head><title>e2e video.js</title></head><body></body></html>');
  await page.evaluate(watchAppends);
  await page.addScriptTag({ path: videojsDist });
  // VHS plays through MSE, and registers itself only where MSE takes H.264 + AAC in MP4.
  const ok = await page.evaluate(() => typeof videojs === 'function' && Boolean(videojs.Vhs)
    && Boolean(window.MediaSource) && MediaSource.isTypeSupported('video/mp4; codecs="avc1.4d400d,mp4a.40.2"'));
  if (!ok) throw new Error('video.js did not load or MSE cannot play H.264 + AAC');
  return page;
}

/**
 * In the page, before video.js loads: counts the player's SourceBuffer appends and those that
 * begin with an initialization segment (`ftyp`). After every initialization segment MSE drops
 * video frames until the next key frame, so a player that re-appends it before parts without
 * INDEPENDENT=YES freezes the picture while the audio plays on; this count shows it. The
 * wrapper only counts: every call goes through unchanged.
 */
function watchAppends() {
  const c = (window.__appends = { total: 0, withInit: 0 });
  const append = SourceBuffer.prototype.appendBuffer;
  SourceBuffer.prototype.appendBuffer = function (data) {
    const bytes = ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, Math.min(8, data.byteLength))
      : new Uint8Array(data, 0, Math.min(8, data.byteLength));
    c.total++;
    if (bytes.length === 8 && String.fromCharCode(...bytes.subarray(4, 8)) === 'ftyp') c.withInit++;
    return append.call(this, data);
  };
  // What this page fetched, with statuses (two players may share one origin).
  performance.setResourceTimingBufferSize(100000);
}

/** In the page: a <video> playing `src` with video.js and VHS options `vhs`, and a watcher filling `window.__e2e`. */
function startInPage({ src, vhs }) {
  window.__appends.total = 0;
  window.__appends.withInit = 0;
  performance.clearResourceTimings();
  const s = (window.__e2e = {
    errors: [], fatal: null, maxStallMs: 0, stalls: 0, waitingEvents: 0, started: null,
    startPosition: null, frozenMs: 0,
  });
  const video = document.createElement('video');
  video.muted = true;
  video.playsInline = true;
  video.width = 640;
  document.body.appendChild(video);
  const player = videojs(video, {
    muted: true, autoplay: true, preload: 'auto', controls: false,
    // VHS, never the browser's own HLS playback (overrideNative is VHS's default off Safari).
    html5: { vhs: { overrideNative: true, ...vhs } },
  });
  window.__player = player;
  // video.js reports only errors that stop playback (VHS retries the rest itself).
  player.on('error', () => {
    const e = player.error();
    const text = e ? `${e.code}: ${e.message}` : 'unknown';
    s.errors.push(text);
    s.fatal ??= text;
  });
  player.on('waiting', () => s.waitingEvents++);
  player.on('playing', () => (s.startPosition ??= player.currentTime()));
  // The stall watch of the hls.js page: currentTime that does not move once playback has
  // started, sampled every 50 ms.
  const el = player.tech(true).el();
  let lastT = -1;
  let lastMove = performance.now();
  let inStall = false;
  let lastTick = performance.now();
  setInterval(() => {
    const now = performance.now();
    const tick = now - lastTick;
    lastTick = now;
    if (el.currentTime !== lastT) {
      // VHS seeks to its live start point before it plays, so playback has started when
      // currentTime first moves on by less than half a second, not at that jump.
      if (s.started === null && lastT >= 0 && el.currentTime > lastT && el.currentTime - lastT < 0.5 && !el.seeking) {
        s.started = Date.now();
      }
      lastT = el.currentTime;
      lastMove = now;
      inStall = false;
    } else if (s.started !== null && !el.paused) {
      s.frozenMs += tick;
      const ms = now - lastMove;
      if (ms > 250 && !inStall) {
        inStall = true;
        s.stalls++;
      }
      s.maxStallMs = Math.max(s.maxStallMs, ms);
    }
  }, 50);
  player.src({ src, type: 'application/x-mpegURL' });
  player.play()?.catch(() => {});
}

/** In the page: one sample of the viewer-visible state. */
function sampleInPage() {
  const player = window.__player;
  const el = player.tech(true).el();
  const vhs = player.tech(true).vhs;
  const q = el.getVideoPlaybackQuality();
  const t = el.currentTime;
  const media = vhs && vhs.playlists && vhs.playlists.media();
  // Wall clock minus EXT-X-PROGRAM-DATE-TIME of the frame on screen: the segment under the
  // playhead, which VHS placed on its timeline from the media it appended (`start`), carries
  // its PDT. (VHS's own convertToProgramTime needs transmuxer timing, which fMP4 never gets.)
  let pdt = null;
  for (const seg of (media && media.segments) || []) {
    if (typeof seg.start !== 'number' || !seg.dateTimeObject || t < seg.start) continue;
    if (typeof seg.end === 'number' && t >= seg.end) continue;
    pdt = seg.dateTimeObject.getTime() + (t - seg.start) * 1000;
    break;
  }
  // VHS's seekable range (its live edge minus its hold-back), not the MSE element's.
  const range = player.seekable();
  const seekable = range.length ? range.end(range.length - 1) : null;
  const fetched = performance.getEntriesByType('resource');
  const path = (e) => new URL(e.name).pathname;
  return {
    at: Date.now(),
    currentTime: t,
    behindPdt: pdt === null ? null : (Date.now() - pdt) / 1000,
    behindSeekableEnd: seekable === null ? null : seekable - t,
    buffered: el.buffered.length ? el.buffered.end(el.buffered.length - 1) - t : 0,
    dropped: q.droppedVideoFrames,
    decoded: q.totalVideoFrames,
    videoHeight: el.videoHeight,
    parts: fetched.filter((e) => /\/p\d+\.mp4$/.test(path(e))).length,
    segments: fetched.filter((e) => /\/s\d+\.mp4$/.test(path(e))).length,
    failed: fetched.filter((e) => e.responseStatus >= 400).map((e) => `${e.responseStatus} ${path(e)}`),
    appends: window.__appends.total,
    initAppends: window.__appends.withInit,
    fatal: window.__e2e.fatal,
  };
}

/**
 * Plays `src` with video.js on `page` with the VHS options `vhs` (e.g. `{ llhls: false }`):
 * waits for the first frame (or a fatal error), then plays `warmup` + `seconds` seconds,
 * sampling once a second. Returns the samples, the page's watcher state, median/p95 of both
 * latency measures and the video frames decoded per second after the warm-up.
 */
export async function playVideojs(page, src, { vhs = {}, seconds = SECONDS, warmup = WARMUP } = {}) {
  await page.evaluate(startInPage, { src, vhs });
  const { startupMs, samples } = await sampleEverySecond(page, sampleInPage, warmup + seconds);
  const state = await page.evaluate(() => window.__e2e);
  const measured = samples.slice(warmup);
  return {
    vhs,
    samples,
    measured,
    state,
    startupMs,
    behindPdt: summarize(measured.map((s) => s.behindPdt)),
    behindSeekableEnd: summarize(measured.map((s) => s.behindSeekableEnd)),
    fps: decodedFps(measured),
  };
}

/** Video frames decoded per second of wall clock over `samples` (null with fewer than two). */
export function decodedFps(samples) {
  if (samples.length < 2) return null;
  const wall = (samples.at(-1).at - samples[0].at) / 1000;
  return Math.round(((samples.at(-1).decoded - samples[0].decoded) / wall) * 100) / 100;
}

/** The JSON line of one video.js playback. */
export function videojsReport(name, result) {
  const last = result.samples.at(-1) || {};
  const r3 = (x) => (typeof x === 'number' ? Math.round(x * 1000) / 1000 : null);
  return {
    bench: `e2e/${name}`,
    player: 'video.js',
    vhs_options: result.vhs,
    startup_ms: result.startupMs,
    start_position_s: r3(result.state.startPosition),
    played_s: result.samples.length,
    measured_s: result.measured.length,
    // Latency: wall clock minus the PDT of the frame on screen, and VHS's own seekable end
    // (its live edge minus its hold-back) minus currentTime.
    behind_pdt_median_s: result.behindPdt.median,
    behind_pdt_p95_s: result.behindPdt.p95,
    behind_seekable_end_median_s: result.behindSeekableEnd.median,
    decoded_fps: result.fps,
    // The least media buffered ahead of the playhead in the measured samples: how close to a stall.
    buffer_ahead_min_s: result.measured.length ? r3(Math.min(...result.measured.map((x) => x.buffered))) : null,
    max_stall_ms: Math.round(result.state.maxStallMs),
    stalls: result.state.stalls,
    frozen_ms_total: Math.round(result.state.frozenMs),
    waiting_events: result.state.waitingEvents,
    parts_loaded: last.parts,
    segments_loaded: last.segments,
    appends: last.appends,
    // Appends that carried the init segment: 1 is right; one per part freezes the picture.
    init_appends: last.initAppends,
    dropped_frames: last.dropped,
    decoded_frames: last.decoded,
    video_height: last.videoHeight,
    failed_requests: last.failed,
    errors: result.state.errors,
    // The machine's 1-minute load average at the end: other work on the 2 cores shows here.
    load1: Math.round(loadavg()[0] * 100) / 100,
  };
}

/**
 * What every video.js playback must show a viewer: no fatal error, currentTime advancing in
 * real time, no frozen picture longer than 1 s, video frames decoded after the warm-up at
 * >= 90 % of the stream's frame rate `fps` (a picture frozen while the audio plays on moves
 * currentTime but decodes few frames), latency measured, and no request answered with an
 * error status.
 */
export function assertVideojsPlayedWell(assert, result, { fps }) {
  const { samples, state } = result;
  assert.equal(state.fatal, null, `fatal video.js error ${state.fatal}; errors: ${state.errors.join(', ')}`);
  const wanted = WARMUP + SECONDS;
  assert.equal(samples.length, wanted, `sampled ${samples.length} of ${wanted} s`);
  const advanced = samples.at(-1).currentTime - samples[0].currentTime;
  const wall = (samples.at(-1).at - samples[0].at) / 1000;
  assert.ok(advanced >= 0.9 * wall, `currentTime advanced ${advanced.toFixed(2)} s in ${wall.toFixed(2)} s`);
  assert.ok(state.maxStallMs <= 1000, `a stall of ${state.maxStallMs.toFixed(0)} ms (${state.stalls} stalls)`);
  assert.ok(result.fps !== null && result.fps >= 0.9 * fps,
    `decoded ${result.fps} video frames/s of a ${fps} fps stream (init segment appended ${samples.at(-1).initAppends} times in ${samples.at(-1).appends} appends)`);
  assert.ok(result.behindPdt.n > 0 && result.behindSeekableEnd.n > 0, 'latency was measured');
  assert.deepEqual(samples.at(-1).failed, [], 'every request was answered without an error status');
}
