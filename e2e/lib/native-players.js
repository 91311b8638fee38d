// Native HLS clients of a two-rendition group: GStreamer's playbin3 (hlsdemux2), the ffmpeg
// CLI and mpv, each run as a viewer would run it, with what each renders recorded over time so
// that a test can tell a continuous picture from one with a hole in its media. Also a reader of
// the origin's media playlists, to compare renditions segment by segment.
import { createConnection } from 'node:net';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnTracked, makeTempDir, removeTempDir } from './procs.js';
import { sleep } from './harness.js';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * The interpreter that Debian's python3-gi is installed for: a `python3` earlier in PATH (a
 * pyenv one, say) cannot import `gi`.
 */
export const SYSTEM_PYTHON = process.env.E2E_GI_PYTHON || '/usr/bin/python3';

/** Splits a stream of Buffers into lines, calling `onLine(line, receivedAtMs)` for each. */
function lineSplitter(onLine) {
  let rest = '';
  return (chunk) => {
    const at = Date.now();
    rest += chunk.toString('utf8');
    let i;
    while ((i = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, i);
      rest = rest.slice(i + 1);
      if (line) onLine(line, at);
    }
  };
}

/**
 * A media playlist as the comparison needs it: every segment's Media Sequence Number, date
 * (EXT-X-PROGRAM-DATE-TIME, ms since the epoch), EXTINF (null while the segment is open) and
 * parts' durations.
 */
export function readMediaPlaylist(text) {
  const lines = text.split('\n').map((l) => l.trim());
  const seq = lines.find((l) => l.startsWith('#EXT-X-MEDIA-SEQUENCE:'));
  let msn = seq ? Number(seq.split(':')[1]) : 0;
  const segments = [];
  let cur = { msn, date: null, duration: null, parts: [] };
  for (const l of lines) {
    if (l.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) cur.date = Date.parse(l.slice(25));
    else if (l.startsWith('#EXT-X-PART:')) cur.parts.push(Number(/DURATION=([\d.]+)/.exec(l)[1]));
    else if (l.startsWith('#EXTINF:')) cur.duration = Number(l.slice(8).split(',')[0]);
    else if (l && !l.startsWith('#') && cur.duration !== null) {
      segments.push(cur);
      msn += 1;
      cur = { msn, date: null, duration: null, parts: [] };
    }
  }
  // The open segment (parts only, no EXTINF yet) is listed too: its parts must line up as well.
  if (cur.parts.length) segments.push(cur);
  return { segments };
}

/**
 * Segment by segment, where two renditions' playlists (read at the same moment) disagree: for
 * each Media Sequence Number both list, the difference of their dates (ms), of their EXTINF and
 * of their parts. `rows` has every shared MSN, `mismatches` those that differ.
 */
export function compareRenditions(a, b) {
  const byMsn = new Map(b.segments.map((s) => [s.msn, s]));
  const rows = [];
  for (const sa of a.segments) {
    const sb = byMsn.get(sa.msn);
    if (!sb) continue;
    // A segment still open in one rendition and closed in the other is only compared part by
    // part, over the parts both have; one listed without its parts (EXT-X-PART is listed only
    // near each playlist's own end) is compared by date and EXTINF alone.
    const complete = sa.duration !== null && sb.duration !== null;
    const n = complete ? Math.max(sa.parts.length, sb.parts.length) : Math.min(sa.parts.length, sb.parts.length);
    const partsDiffer = (complete && sa.parts.length && sb.parts.length && sa.parts.length !== sb.parts.length)
      || sa.parts.slice(0, n).some((d, i) => sb.parts[i] !== undefined && d !== sb.parts[i]);
    rows.push({
      msn: sa.msn,
      dates: [sa.date, sb.date],
      dateDiffMs: sa.date !== null && sb.date !== null ? sb.date - sa.date : null,
      extinf: [sa.duration, sb.duration],
      parts: [sa.parts.length, sb.parts.length],
      partsDiffer: Boolean(partsDiffer),
    });
  }
  const mismatches = rows.filter((r) => r.dateDiffMs !== 0
    || (r.extinf[0] !== null && r.extinf[1] !== null && r.extinf[0] !== r.extinf[1]) || r.partsDiffer);
  return { rows, mismatches };
}

/**
 * Holes and stalls in what a player rendered, from samples `{ wall (s), pts (s) }` in render
 * order: a hole is a step in PTS longer than `maxStepS` (media never shown), `backwards` a step
 * below zero (media shown twice), a stall a wall-clock wait longer than `maxStallS` between two
 * samples once rendering has started.
 */
export function continuity(samples, { maxStepS, maxStallS = 1 }) {
  const holes = [];
  const backwards = [];
  const stalls = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1];
    const b = samples[i];
    const step = b.pts - a.pts;
    if (step > maxStepS) holes.push({ fromPts: a.pts, toPts: b.pts, missingS: round(step), atWall: b.wall });
    if (step < 0) backwards.push({ fromPts: a.pts, toPts: b.pts, atWall: b.wall });
    if (b.wall - a.wall > maxStallS) stalls.push({ fromWall: a.wall, waitedS: round(b.wall - a.wall), atPts: b.pts });
  }
  return { holes, backwards, stalls };
}

export const round = (x, digits = 3) => (x === null || x === undefined ? x : Number(x.toFixed(digits)));

/** Median of an array of numbers (null when empty). */
export function median(xs) {
  if (!xs.length) return null;
  const s = [...xs].sort((p, q) => p - q);
  return s[Math.floor(s.length / 2)];
}

/**
 * GStreamer's playbin3 plays `url` for `seconds` (e2e/lib/gst-play.py); `switches` are
 * `[atSeconds, connectionBitrate]` pairs. Resolves to the script's events (`buf`, `switch`,
 * `error`, `warning`, `end`, each with `wall` seconds since start, `unixStart` the Unix time
 * of wall 0), its exit status and its stderr.
 */
export async function playWithGstreamer(url, { seconds, switches = [] }) {
  const events = [];
  const args = [join(here, 'gst-play.py'), url, String(seconds), ...switches.flatMap(([at, bps]) => ['--switch', `${at}:${bps}`])];
  const proc = spawnTracked('gst-play', SYSTEM_PYTHON, args, {
    onStdout: lineSplitter((line) => {
      try {
        events.push(JSON.parse(line));
      } catch {
        events.push({ ev: 'unparsed', line });
      }
    }),
  });
  const timer = setTimeout(() => proc.stop(), (seconds + 20) * 1000);
  const exit = await proc.exited;
  clearTimeout(timer);
  const start = events.find((e) => e.ev === 'start');
  return { events, unixStart: start ? start.unix : null, exit, stderr: proc.log() };
}

/**
 * The ffmpeg CLI reads `url` as an HLS client for `seconds` of media and writes every decoded
 * frame of the `maps` streams as a framecrc line (cheaper than framemd5 on a busy machine), keeping the input's timestamps (-copyts).
 * Resolves to the frames by output stream (`{ pts (in the stream's time base), at (ms when
 * ffmpeg wrote it) }`), each stream's header (`tb`, `dimensions`), the exit status and stderr.
 */
export async function readWithFfmpeg(url, { seconds, maps }) {
  const headers = {};
  const frames = {};
  const args = [
    '-hide_banner', '-nostdin', '-loglevel', 'warning',
    '-copyts', '-t', String(seconds), '-i', url,
    ...maps.flatMap((m) => ['-map', m]),
    // One write per frame, so that the time a line arrives is the time ffmpeg had the frame.
    '-flush_packets', '1', '-f', 'framecrc', '-',
  ];
  const proc = spawnTracked('ffmpeg-client', 'ffmpeg', args, {
    onStdout: lineSplitter((line, at) => {
      const h = /^#(\w+) (\d+): (.*)$/.exec(line);
      if (h) {
        (headers[h[2]] ??= {})[h[1]] = h[3];
        return;
      }
      if (line.startsWith('#')) return;
      const [stream, , pts] = line.split(',').map((s) => s.trim());
      (frames[stream] ??= []).push({ pts: Number(pts), at });
    }),
  });
  const timer = setTimeout(() => proc.stop(), (seconds + 30) * 1000);
  const exit = await proc.exited;
  clearTimeout(timer);
  const streams = Object.fromEntries(Object.entries(headers).map(([i, h]) => {
    const [num, den] = (h.tb || '1/1').split('/').map(Number);
    return [i, { tb: num / den, dimensions: h.dimensions || null, mediaType: h.media_type }];
  }));
  return { streams, frames, exit, stderr: proc.log() };
}

/** A JSON IPC client of mpv's `--input-ipc-server` socket: `command([...])` → its `data`. */
async function mpvClient(path, deadlineMs) {
  const end = Date.now() + deadlineMs;
  let sock;
  for (;;) {
    try {
      sock = await new Promise((resolve, reject) => {
        const s = createConnection(path);
        s.once('connect', () => resolve(s));
        s.once('error', reject);
      });
      break;
    } catch (e) {
      if (Date.now() > end) throw new Error(`mpv's IPC socket did not open: ${e.message}`);
      await sleep(100);
    }
  }
  let next = 1;
  const pending = new Map();
  sock.on('data', lineSplitter((line) => {
    const msg = JSON.parse(line);
    const p = pending.get(msg.request_id);
    if (p) {
      pending.delete(msg.request_id);
      p(msg);
    }
  }));
  sock.on('error', () => {});
  const closed = new Promise((resolve) => sock.once('close', resolve));
  closed.then(() => {
    for (const p of pending.values()) p({ error: 'closed' });
    pending.clear();
  });
  return {
    command(cmd) {
      if (sock.destroyed) return Promise.resolve({ error: 'closed' });
      const id = next++;
      return new Promise((resolve) => {
        pending.set(id, resolve);
        sock.write(JSON.stringify({ command: cmd, request_id: id }) + '\n');
      });
    },
    closed,
    close: () => sock.destroy(),
  };
}

/**
 * mpv plays `url` for `seconds` with no audio or video output, reading its state every 100 ms
 * over its IPC socket: `time-pos` (the media time on screen: --rebase-start-time=no keeps the
 * stream's own timestamps), the picture's height, `avsync`, `paused-for-cache`, dropped frames
 * and how much read-ahead its demuxer holds. `actions` are `[atSeconds, command]` pairs sent
 * then (e.g. `['set_property', 'vid', 2]`). Resolves to the samples (`{ wall, unix, ... }`), the
 * actions' answers, mpv's exit status and its log's error lines.
 */
export async function playWithMpv(url, { seconds, args = [], actions = [] }) {
  const dir = makeTempDir('playlists-e2e-mpv-');
  const socket = join(dir, 'ipc.sock');
  const logFile = join(dir, 'mpv.log');
  const proc = spawnTracked('mpv', 'mpv', [
    '--no-config', '--no-terminal', '--load-scripts=no', '--ytdl=no', '--idle=no',
    '--vo=null', '--ao=null', '--rebase-start-time=no', `--length=${seconds}`,
    `--input-ipc-server=${socket}`, `--log-file=${logFile}`,
    ...args, url,
  ]);
  const samples = [];
  const done = [];
  try {
    const ipc = await mpvClient(socket, 15000);
    const t0 = Date.now();
    const todo = [...actions].sort((p, q) => p[0] - q[0]);
    const props = ['time-pos', 'video-params/h', 'avsync', 'paused-for-cache', 'frame-drop-count', 'demuxer-cache-duration'];
    let open = true;
    ipc.closed.then(() => (open = false));
    while (open && Date.now() - t0 < (seconds + 20) * 1000) {
      const wall = (Date.now() - t0) / 1000;
      while (todo.length && todo[0][0] <= wall) {
        const [at, cmd] = todo.shift();
        done.push({ at, wall, cmd, answer: (await ipc.command(cmd)).error });
      }
      const answers = await Promise.all(props.map((p) => ipc.command(['get_property', p])));
      if (answers.some((a) => a.error === 'closed')) break;
      const [pts, height, avsync, cache, drops, readahead] = answers.map((a) => (a.error === 'success' ? a.data : null));
      samples.push({ wall, unix: Date.now() / 1000, pts, height, avsync, pausedForCache: cache, drops, readahead });
      await sleep(100);
    }
    ipc.close();
    const timer = setTimeout(() => proc.stop(), 10000);
    const exit = await proc.exited;
    clearTimeout(timer);
    const log = readFileSync(logFile, 'utf8');
    // mpv's log lines carry their level: [e] error, [w] warning.
    const errors = log.split('\n').filter((l) => /^\[\s*[\d.]+\]\[e\]/.test(l));
    const warnings = log.split('\n').filter((l) => /^\[\s*[\d.]+\]\[w\]/.test(l));
    return { samples, actions: done, exit, errors, warnings, output: proc.log() };
  } finally {
    await proc.stop();
    removeTempDir(dir);
  }
}
