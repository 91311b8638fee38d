// Shared pieces of the end-to-end suite: the release binary on a free loopback port, ffmpeg
// encoders pushing to it, an nginx cache tier, Debian's headless Chromium, and the results file.
import { createServer } from 'node:net';
import { mkdirSync, appendFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { spawnTracked, makeTempDir, removeTempDir } from './procs.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root. */
export const repo = join(here, '..', '..');
/** The origin under test: the release build unless PLAYLISTS_BIN says otherwise. */
export const binary = process.env.PLAYLISTS_BIN || join(repo, 'target', 'release', 'playlists');
/** Where screenshots and results.jsonl go (CI keeps target/e2e as an artifact). */
export const artifacts = join(repo, 'target', 'e2e');
/** Seconds of measured playback per scenario (after the warm-up). */
export const SECONDS = Number(process.env.E2E_SECONDS || 20);
/** Seconds of playback before latency is sampled. */
export const WARMUP = Number(process.env.E2E_WARMUP || 10);

mkdirSync(artifacts, { recursive: true });

/** One JSON line per measurement, on stdout and appended to target/e2e/results.jsonl. */
export function report(obj) {
  const line = JSON.stringify(obj);
  console.log(line);
  appendFileSync(join(artifacts, 'results.jsonl'), line + '\n');
}

/** A free TCP port on 127.0.0.1 (bound, read, released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Polls `fn` every 100 ms until it returns a truthy value (returned) or `ms` pass (thrown). */
export async function waitFor(what, fn, ms = 15000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `fetch` with a deadline, so no wait in the suite is unbounded. */
export function fetchWithin(url, ms = 5000, init = {}) {
  return fetch(url, { ...init, signal: AbortSignal.timeout(ms) });
}

/** The body of `url` (a playlist), or throws on a non-2xx answer. */
export async function fetchText(url, ms = 5000) {
  const r = await fetchWithin(url, ms);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.text();
}

/** Answered requests from the origin's /metrics: `{ "part 200": n, "segment 404": n, … }`. */
export async function requestCounts(base) {
  const text = await fetchText(`${base}/metrics`);
  const counts = {};
  for (const line of text.split('\n')) {
    const m = /^playlists_http_requests_total\{route="([^"]+)",status="(\d+)"\}\s+(\d+)/.exec(line);
    if (m) counts[`${m[1]} ${m[2]}`] = Number(m[3]);
  }
  return counts;
}

/** What `after` counted beyond `before` (both from requestCounts), by "route status". */
export function countsSince(before, after) {
  const d = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] || 0) > 0) d[k] = v - (before[k] || 0);
  return d;
}

/** Of `counts` (by "route status"): the sum for `route`, or the entries with an error status. */
export const routeTotal = (counts, route) =>
  Object.entries(counts).filter(([k]) => k.startsWith(`${route} `)).reduce((a, [, v]) => a + v, 0);
export const errorsOf = (counts) => Object.fromEntries(Object.entries(counts).filter(([k]) => Number(k.split(' ')[1]) >= 400));

/**
 * Starts `playlists` on a free loopback port (or on `port`: an origin started again where the
 * previous one listened); resolves once /healthz answers. Pages play with the hls.js the
 * binary embeds (`/assets/hls.min.js`): what a user of the binary gets. `demo: true` adds the
 * built-in `demo` stream. `stop()` is SIGTERM (a clean shutdown), `kill()` SIGKILL (a crash).
 */
export async function startServer({ demo = false, args = [], port: wanted } = {}) {
  const port = wanted ?? (await freePort());
  const base = `http://127.0.0.1:${port}`;
  // E2E_SERVER_ARGS: extra origin flags for latency experiments (docs/latency.md).
  const extra = (process.env.E2E_SERVER_ARGS || '').split(/\s+/).filter(Boolean);
  const all = ['--listen', `127.0.0.1:${port}`, ...(demo ? ['--demo'] : []), ...args, ...extra];
  const proc = spawnTracked('playlists', binary, all, {
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info' },
  });
  try {
    await waitFor('the origin to answer /healthz', async () => {
      if (proc.exitInfo()) throw new Error(`exited ${JSON.stringify(proc.exitInfo())}: ${proc.log()}`);
      return (await fetchWithin(`${base}/healthz`, 1000)).ok;
    });
  } catch (e) {
    await proc.stop();
    throw e;
  }
  return { base, port, log: proc.log, stop: proc.stop, kill: proc.kill, exitInfo: proc.exitInfo, exited: proc.exited };
}

/** Waits until `stream`'s playlist lists a complete segment (players then have a start point). */
export async function waitForSegment(base, stream, ms = 20000) {
  await waitFor(`a complete segment of ${stream}`, async () => (await fetchText(`${base}/${stream}/index.m3u8`)).includes('#EXTINF'), ms);
}

/**
 * ffmpeg as a live encoder, exactly the ingest issue's command: test pattern + sine, x264
 * zerolatency with a 1 s GOP, CMAF fragments of 200 ms, PUT to `url`. `size` changes the
 * picture only (the two-rendition scenario); `gop` is the key-frame interval in frames (30 fps).
 */
export function startEncoder(url, { size = '640x360', gop = 30 } = {}) {
  const args = [
    '-hide_banner', '-nostats', '-loglevel', 'error', '-re',
    '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=30`,
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p',
    '-g', String(gop), '-keyint_min', String(gop), '-sc_threshold', '0',
    '-c:a', 'aac',
    '-f', 'mp4', '-movflags', 'cmaf+empty_moov+default_base_moof+frag_keyframe+skip_trailer',
    // E2E_FRAG_DURATION_US: another part duration, for latency experiments (docs/latency.md).
    '-frag_duration', process.env.E2E_FRAG_DURATION_US || '200000',
    '-method', 'PUT', url,
  ];
  // SIGINT lets ffmpeg end its upload cleanly; the origin then starts the grace period.
  return spawnTracked('ffmpeg', 'ffmpeg', args, { stopSignal: 'SIGINT' });
}

/**
 * ffmpeg publishing over RTMP, the RTMP issue's command: the same test pattern + sine, x264
 * with `bf` B-frames (2 by default: no zerolatency tune, which would turn them off) and a 1 s
 * GOP, AAC, FLV to `url` (`rtmp://HOST:PORT/live/NAME`). The origin cuts the parts; ffmpeg
 * sends frames as it encodes them.
 */
export function startRtmpEncoder(url, { bf = 2, gop = 30 } = {}) {
  const args = [
    '-hide_banner', '-nostats', '-loglevel', 'error', '-re',
    '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-bf', String(bf),
    '-g', String(gop), '-keyint_min', String(gop), '-sc_threshold', '0',
    '-c:a', 'aac',
    '-f', 'flv', url,
  ];
  return spawnTracked('ffmpeg', 'ffmpeg', args, { stopSignal: 'SIGINT' });
}

/** Debian's Chromium, headless, with a fresh profile and no background networking. */
export async function launchBrowser() {
  const profile = makeTempDir('playlists-e2e-chromium-');
  let context;
  try {
    // The flags the issue fixes; playwright adds its own automation flags besides.
    context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      timeout: 30000,
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        // Muted <video> autoplays anyway; this keeps play() from depending on a gesture.
        '--autoplay-policy=no-user-gesture-required',
      ],
      viewport: { width: 900, height: 620 },
    });
  } catch (e) {
    removeTempDir(profile);
    throw e;
  }
  return {
    async newPage() {
      const page = await context.newPage();
      page.setDefaultTimeout(30000);
      page.on('pageerror', (e) => console.error('page error:', e.message));
      return page;
    },
    async close() {
      await context.close().catch(() => {});
      removeTempDir(profile);
    },
  };
}

/**
 * The numbers a media playlist carries, which a restart or a reconnect must keep counting:
 * MEDIA-SEQUENCE, DISCONTINUITY-SEQUENCE (absent is 0, §4.4.3.3), the complete segments, the
 * newest MSN named (the open segment, its parts and hint, after the complete ones), the
 * EXT-X-DISCONTINUITY tags listed, and whether it has ended.
 */
export function playlistNumbers(text) {
  const num = (re) => {
    const m = re.exec(text);
    return m ? Number(m[1]) : null;
  };
  const mediaSequence = num(/#EXT-X-MEDIA-SEQUENCE:(\d+)/);
  const segments = (text.match(/^#EXTINF:/gm) || []).length;
  return {
    media_sequence: mediaSequence,
    discontinuity_sequence: num(/#EXT-X-DISCONTINUITY-SEQUENCE:(\d+)/) ?? 0,
    segments,
    last_msn: mediaSequence === null ? null : mediaSequence + segments,
    discontinuities: (text.match(/^#EXT-X-DISCONTINUITY$/gm) || []).length,
    ended: text.includes('#EXT-X-ENDLIST'),
  };
}
