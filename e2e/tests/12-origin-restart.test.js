// Scenario 12: restarts without casualties. An origin killed outright (SIGKILL: a crash, an OOM
// kill, a host that reboots) and started again on the same port a second later must not kill
// its players: hls.js goes on playing with no fatal error, every number the new origin serves
// is above every number the old one served (EXT-X-MEDIA-SEQUENCE, §6.2.2
// [docs/conformance.md R34]), so a player's next reload lands on a newer playlist, never an
// older one, and no part or segment URI of the new run is one the player fetched from the old
// run (media is cacheable for minutes: a cache, the browser's own included, would answer with
// the old run's bytes). A stream that is not back yet is waited for, not denied: a plain
// playlist request is answered once the stream lists a complete segment, and a request held
// too long gets a 503 that says when to come back. A classic (non-LL) reader, ffmpeg, is
// watched across the same restart.
//
// And riding it out as a viewer would want: at most one stall, and back within 2 s of live
// from 5 s after the restart on. With the encoders' timestamps (which start again at 0)
// hls.js 1.7.4 froze about 12 s, waiting for its own timeline to catch up; on the wall clock
// (ingest's restamping) the new run follows the old one by about the outage, hls.js seeks over
// that hole and plays on after one stall of 2.3–2.7 s. It resumes about 2.2 s behind live, the
// demo and the ffmpeg push alike: hls.js resumes at the new run's first segment (its live start
// finds no fragment by the old run's date across the hole, nor by number, and takes the first
// one of the same discontinuity number, loaded whole), and that segment is already 2.2 s old
// when it is first listed: a stream's first playlist waits for its first segment to close
// (measured TARGETDURATION), the 2 s segment plus the 200 ms part that closes it. At hls.js's
// default playbackRate it never catches up; with `maxLiveSyncPlaybackRate: 1.5`, which the
// origin's page and this suite use (e2e/lib/player.js), it does, to its target after a stall
// (PART-HOLD-BACK + 1 s, 1.66 s measured): within 2 s of live from 5 s after the restart on in
// 12 of 12 playbacks (six runs of the scenario on 2026-12-07), back 2.99–5.00 s after it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { spawnSync } from 'node:child_process';
import {
  startServer, startEncoder, waitFor, launchBrowser, report, fetchWithin, fetchText,
  requestCounts, errorsOf, sleep, WARMUP, SECONDS, playlistNumbers } from '../lib/harness.js';
import { openPlayerPage, play, playbackReport, summarize } from '../lib/player.js';
import { spawnTracked } from '../lib/procs.js';

/** Second of playback (counted from the first frame) at which the origin is killed. */
const KILL_AT = 8;
/** How long the origin stays down before it is started again. */
const DOWN_MS = 1000;
/** Playback must be back within LIVE_S of live this many seconds after the restart. */
const BACK_WITHIN_S = 5;
const LIVE_S = 2;
/** A frozen picture longer than this is a stall a viewer notices (as in assertPlayedWell). */
const STALL_MS = 1000;

/**
 * `stream`'s playlist once it lists a complete segment, asked for every 100 ms as a player
 * would (each request may be held up to `ms`), with every answer before it: status, time
 * since `since`, how long the request took, Retry-After.
 */
async function pollPlaylist(base, stream, ms, since = Date.now()) {
  const answers = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const t0 = Date.now();
    try {
      const r = await fetchWithin(`${base}/${stream}/index.m3u8`, Math.max(1000, end - t0));
      const text = await r.text();
      answers.push({
        at_ms: t0 - since, status: r.status, extinf: text.includes('#EXTINF'), took_ms: Date.now() - t0,
        retry_after: r.headers.get('retry-after'),
      });
      if (r.ok && text.includes('#EXTINF')) return { text, answers };
    } catch (e) {
      answers.push({ at_ms: t0 - since, error: e.message, took_ms: Date.now() - t0 });
    }
    await sleep(100);
  }
  throw new Error(`no playlist of ${stream} listing a complete segment within ${ms} ms: ${JSON.stringify(answers.slice(-20))}`);
}

const r3 = (x) => (typeof x === 'number' ? Math.round(x * 1000) / 1000 : x);

/**
 * hls.js plays `stream` from an origin (the demo, or an ffmpeg push when `encoded`); at second
 * KILL_AT the origin gets SIGKILL (and so does the encoder, if it did not die with it), and
 * DOWN_MS later a new origin starts on the same port (and a new encoder pushes to the same
 * URL). Plays the normal play() time and returns what happened, with the timings.
 */
async function playAcrossRestart({ demo, encoded, stream }) {
  const stops = [];
  const first = await startServer({ demo });
  stops.unshift(first.stop);
  const { base, port } = first;
  const t = {};
  let second = null;
  let encoder = null;
  let restart = null;
  try {
    const ingest = `${base}/ingest/${stream}`;
    if (encoded) {
      encoder = startEncoder(ingest);
      stops.unshift(encoder.stop);
    }
    await pollPlaylist(base, stream, 20000).catch((e) => {
      throw new Error(`${e.message}\nffmpeg: ${encoder?.log()}\norigin: ${first.log().slice(-4000)}`);
    });
    const browser = await launchBrowser();
    stops.unshift(browser.close);
    const page = await openPlayerPage(browser, base);
    // Every request of the page, for what it fetched again after the restart (and whether
    // from its HTTP cache).
    await page.evaluate(() => performance.setResourceTimingBufferSize(100000));
    let before = null;
    let after = null;
    let countsBefore = null;
    let probe = null;
    const result = await play(page, `${base}/${stream}/index.m3u8`, {
      onSecond: async (i) => {
        if (i !== KILL_AT) return;
        // What players last saw from the first origin.
        before = playlistNumbers(await fetchText(`${base}/${stream}/index.m3u8`, 2000));
        countsBefore = await requestCounts(base);
        t.kill = Date.now();
        await first.kill();
        t.killed = Date.now();
        // The rest runs beside the sampling, which goes on every second.
        restart = (async () => {
          if (encoder) {
            // ffmpeg's upload breaks with the origin; whatever is left of it is killed too.
            const exit = await Promise.race([encoder.exited, sleep(500).then(() => null)]);
            t.encoder_died_itself = exit !== null;
            t.encoder_exit = exit ?? (await encoder.kill());
          }
          await sleep(Math.max(0, t.kill + DOWN_MS - Date.now()));
          t.restart = Date.now();
          second = await startServer({ demo, port });
          stops.unshift(second.stop);
          t.ready = Date.now();
          if (encoded) {
            encoder = startEncoder(ingest);
            stops.unshift(encoder.stop);
          }
          // A player that asks for the stream as soon as the origin answers again: the
          // stream is not back yet (the demo's first segment, or the new encoder, is still
          // on its way).
          const polled = await pollPlaylist(base, stream, 20000, t.restart);
          after = playlistNumbers(polled.text);
          probe = polled.answers;
          t.segment_after = Date.now();
        })();
        // Awaited after play(); until then a failure must not be an unhandled rejection.
        restart.catch(() => {});
      },
    });
    await restart;
    const fetched = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => ({
      url: e.name, at: performance.timeOrigin + e.startTime, transferSize: e.transferSize, status: e.responseStatus,
    })));
    // The restarted origin's counters start at its start: all of it is after the restart.
    const countsAfter = second ? await requestCounts(base) : null;
    const state = result.state;
    return {
      result, before, after, probe, t, fetched, originLog: second?.log() ?? first.log(),
      countsBefore, countsAfter,
      encoderLog: encoder?.log(),
      errorLog: state.errorLog,
    };
  } finally {
    for (const stop of stops) await stop();
  }
}

/**
 * What a viewer of a restarted origin must see, and what the restart must serve. `run` is
 * what playAcrossRestart returned. Every check is evaluated and reported (the JSON line names
 * the failed ones) before the test fails on any of them.
 */
function assertSurvivedRestart(name, run) {
  const { result, before, after, probe, t, fetched, countsBefore, countsAfter, errorLog } = run;
  const { samples, state } = result;
  const since = (at) => (at === undefined || at === null || !t.restart ? null : r3((at - t.restart) / 1000));
  const withinLive = (s) => s.latency <= LIVE_S && s.behindPdt !== null && s.behindPdt <= LIVE_S;
  // The first sample after the restart from which playback stays within LIVE_S of live.
  const afterRestart = t.restart ? samples.filter((s) => s.at >= t.restart) : [];
  let back = null;
  for (let j = afterRestart.length - 1; j >= 0 && withinLive(afterRestart[j]); j--) back = afterRestart[j];
  const latencyBefore = samples.slice(3, KILL_AT);
  const settled = afterRestart.filter((s) => s.at >= t.restart + BACK_WITHIN_S * 1000);
  const long = state.stallLog.filter((s) => s.ms > STALL_MS);
  const longest = Math.max(0, ...state.stallLog.map((s) => s.ms));
  const advanced = samples.at(-1).currentTime - samples[0].currentTime;
  const wall = (samples.at(-1).at - samples[0].at) / 1000;
  const playing = wall - longest / 1000;
  const playlistErrors = errorsOf(Object.fromEntries(Object.entries(countsAfter || {})
    .filter(([k]) => /^(playlist|blocking_playlist) /.test(k))));
  const wanted = WARMUP + SECONDS;
  // Parts and segments (not init sections) the page fetched before the kill and again after
  // the restart: a URI of the new run that names other bytes than the same URI of the old run
  // (media is cacheable for minutes, so a cache, the browser's own included, keeps the old).
  const media = (e) => /\.mp4$/.test(new URL(e.url).pathname) && !/\/init[^/]*\.mp4$/.test(new URL(e.url).pathname);
  const path = (e) => new URL(e.url).pathname;
  const fetchedBefore = new Set(fetched.filter((e) => media(e) && e.at < t.kill && e.status === 200).map(path));
  const again = fetched.filter((e) => media(e) && t.restart && e.at >= t.restart && e.status === 200 && fetchedBefore.has(path(e)));
  const fromCache = again.filter((e) => e.transferSize === 0);

  // [name, passed, what was seen]
  const checks = [
    ['no_fatal_error', state.fatal === null, `fatal hls.js error ${state.fatal}`],
    ['played_to_the_end', samples.length === wanted, `played ${samples.length} of ${wanted} s`],
    ['restarted', Boolean(t.restart && after), 'the origin was killed and started again during playback'],
    // At most one stall, and that one from the restart (the picture froze while the origin
    // was away or its stream not back yet), not before the kill.
    ['at_most_one_stall', long.length <= 1 && long.every((s) => s.startedAt >= t.kill),
      `${long.length} stalls over ${STALL_MS} ms: ${JSON.stringify(long.map((s) => ({ from_restart_s: since(s.startedAt), ms: s.ms })))}`],
    ['time_advanced', advanced >= 0.9 * playing,
      `currentTime advanced ${advanced.toFixed(2)} s in ${wall.toFixed(2)} s with a ${longest} ms stall`],
    ['frames_decoded', samples.at(-1).decoded >= 25 * playing,
      `decoded ${samples.at(-1).decoded} frames in ${playing.toFixed(1)} s of playing`],
    ['low_latency_mode', state.partsLoaded > 0, 'hls.js loaded no part: it is not playing in low-latency mode'],
    // Back within LIVE_S of live after at most BACK_WITHIN_S: every sample from then on.
    ['back_to_live', settled.length > 0 && settled.every(withinLive),
      `not within ${LIVE_S} s of live (hls.latency and wall − PDT) from ${BACK_WITHIN_S} s after the restart on `
      + `(back from ${back ? since(back.at) : 'never'} s; [s after the restart, hls.latency, wall − PDT]: `
      + `${JSON.stringify(afterRestart.map((s) => [since(s.at), r3(s.latency), r3(s.behindPdt)]))})`],
    // A stream that is not back yet is held, not denied; a blocking reload from before the
    // restart names numbers below the new ones, so it is answered at once (§6.2.5.2).
    ['playlists_answered', Object.keys(playlistErrors).length === 0,
      `the restarted origin answered playlist requests with ${JSON.stringify(playlistErrors)}`],
    ['not_back_yet_is_held', Boolean(probe && probe.every((a) => a.status === 200 && a.extinf)),
      `a plain playlist request asked from the restart on: ${JSON.stringify(probe?.slice(0, 5))}`],
    ['media_uris_not_reused', again.length === 0,
      `${again.length} media URIs fetched before the kill were fetched again after the restart `
      + `(${fromCache.length} answered by the browser's cache): ${again.slice(0, 8).map(path).join(' ')}`],
    ['media_sequence_higher', Boolean(before && after && after.media_sequence > before.last_msn),
      `EXT-X-MEDIA-SEQUENCE after the restart ${after?.media_sequence}, newest number before ${before?.last_msn}`],
  ];
  const failed = checks.filter(([, ok]) => !ok);
  report({
    ...playbackReport(name, result),
    failed_checks: failed.map(([n]) => n),
    kill_at_s: KILL_AT,
    timings_ms: {
      kill_to_exit: t.killed - t.kill,
      kill_to_restart: t.restart - t.kill,
      restart_to_healthz: t.ready - t.restart,
      restart_to_first_segment: t.segment_after - t.restart,
    },
    ...(t.encoder_exit ? { encoder_died_with_origin: t.encoder_died_itself, encoder_exit: t.encoder_exit } : {}),
    stall_log: state.stallLog.map((s) => ({ from_restart_s: since(s.startedAt), ms: s.ms })),
    latency_before_s: summarize(latencyBefore.map((s) => s.latency)).median,
    behind_pdt_before_s: summarize(latencyBefore.map((s) => s.behindPdt)).median,
    latency_after_s: summarize(settled.map((s) => s.latency)).median,
    behind_pdt_after_s: summarize(settled.map((s) => s.behindPdt)).median,
    per_second_after_restart: afterRestart.map((s) => ({
      s: since(s.at), t: r3(s.currentTime), latency: r3(s.latency), behind_pdt: r3(s.behindPdt), buffered: r3(s.buffered),
    })),
    back_within_live_s_after_restart: back ? since(back.at) : null,
    numbers_before: before,
    numbers_after: after,
    not_back_yet_probe: probe,
    media_fetched_again_after_restart: { count: again.length, from_browser_cache: fromCache.length, uris: again.slice(0, 20).map(path) },
    hls_errors: errorLog.map((e) => ({ ...e, at: since(e.at) })),
    origin_before_kill: countsBefore ? errorsOf(countsBefore) : null,
    origin_after_restart: countsAfter,
  });
  assert.ok(failed.length === 0, `${failed.length} of ${checks.length} checks failed:\n`
    + `${failed.map(([n, , seen]) => `${n}: ${seen}`).join('\n')}\nhls.js errors: ${JSON.stringify(errorLog)}`);
}

/** One hls.js scenario of the restart: `opts` for playAcrossRestart, `name` for the report. */
function restartTest(title, name, opts) {
  test(title, { timeout: 90_000 }, async () => {
    const run = await playAcrossRestart(opts);
    try {
      assertSurvivedRestart(name, run);
    } catch (e) {
      console.error(`origin after the restart: ${run.originLog.slice(-3000)}`
        + (run.encoderLog ? `\nffmpeg: ${run.encoderLog}` : ''));
      throw e;
    }
  });
}

restartTest('demo: hls.js plays on across a kill -9 and restart of the origin', 'restart_demo',
  { demo: true, stream: 'demo' });
restartTest('ffmpeg push: hls.js plays on across a kill -9 and restart of the origin and a new encoder',
  'restart_ffmpeg', { encoded: true, stream: 'cam1' });

/** One plain GET: status, Retry-After, whether it lists a complete segment, how long it took. */
async function getPlaylist(url, ms) {
  const t0 = Date.now();
  const r = await fetchWithin(url, ms);
  const body = await r.text();
  return {
    status: r.status, retry_after: r.headers.get('retry-after'), extinf: body.includes('#EXTINF'),
    took_ms: Date.now() - t0, body,
  };
}

/**
 * What ffmpeg sends first with the encoder's settings: the init section (ftyp + moov) and the
 * first fragment (moof + mdat, one part), and nothing of the second.
 */
function encoderFirstPart() {
  const out = spawnSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '1',
    '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p', '-g', '30',
    '-c:a', 'aac', '-f', 'mp4', '-movflags', 'cmaf+empty_moov+default_base_moof+frag_keyframe+skip_trailer',
    '-frag_duration', '200000', 'pipe:1',
  ], { timeout: 20000, killSignal: 'SIGKILL', maxBuffer: 16 << 20 });
  assert.equal(out.status, 0, `ffmpeg: ${out.stderr}`);
  // Top-level boxes up to the second fragment.
  const buf = out.stdout;
  let at = 0;
  let moofs = 0;
  while (at + 8 <= buf.length) {
    if (buf.toString('latin1', at + 4, at + 8) === 'moof' && ++moofs === 2) break;
    at += buf.readUInt32BE(at);
  }
  assert.ok(moofs === 2, 'ffmpeg wrote two fragments');
  return buf.subarray(0, at);
}

test('a brand-new stream: a plain playlist request is answered once it lists a complete segment', { timeout: 60_000 }, async () => {
  // The origin holds a stream's first playlist up to 3 × the longest target duration
  // (§6.2.5.2): shortened here to 6 s, for part 2.
  const server = await startServer({ args: ['--max-target-duration-s', '2'] });
  const stops = [server.stop];
  try {
    // 1. ffmpeg starts pushing `fresh`, and a player asks for it at once, retrying (at most
    // every 100 ms, or after Retry-After) until it gets a playlist.
    const started = Date.now();
    const encoder = startEncoder(`${server.base}/ingest/fresh`);
    stops.unshift(encoder.stop);
    const answers = [];
    let last;
    while (Date.now() - started < 20000) {
      last = await getPlaylist(`${server.base}/fresh/index.m3u8`, 20000);
      answers.push({ at_ms: Date.now() - started, ...last, body: undefined });
      if (last.status === 200) break;
      const wait = Number(last.retry_after);
      await sleep(Number.isFinite(wait) && wait > 0 ? Math.min(wait * 1000, 2000) : 100);
    }
    const denied = answers.filter((a) => a.status !== 200);

    // 2. A stream whose encoder sent its init section and first part, then nothing: its
    // first segment stays open, so its first playlist is held to the limit (6 s here), then
    // 503, which must say when to come back (RFC 9110 §10.2.3).
    const put = request(`${server.base}/ingest/held`, { method: 'PUT', headers: { 'content-type': 'video/mp4' } });
    put.on('error', () => {});
    put.write(encoderFirstPart());
    stops.unshift(async () => put.destroy());
    // The part is published as soon as it is in (loopback, a few ms).
    await sleep(1000);
    const held = await getPlaylist(`${server.base}/held/index.m3u8`, 20000);

    report({
      bench: 'e2e/restart_new_stream',
      answers: answers.map((a) => ({ at_ms: a.at_ms, status: a.status, retry_after: a.retry_after, extinf: a.extinf, took_ms: a.took_ms })),
      statuses_before_playlist: [...new Set(denied.map((a) => a.status))],
      held_first_playlist: { status: held.status, retry_after: held.retry_after, took_ms: held.took_ms, body: held.body.slice(0, 200) },
    });
    assert.equal(last.status, 200, `no playlist within 20 s: ${JSON.stringify(answers)}\nffmpeg: ${encoder.log()}`);
    assert.ok(last.extinf, `the first playlist lists no complete segment:\n${last.body}`);
    // Before the encoder's first byte the origin cannot know the stream: 404, or 503 that says
    // when to come back. After it, the request is held until the first playlist.
    for (const a of denied) {
      assert.ok(a.status === 404 || (a.status === 503 && a.retry_after), `answered ${JSON.stringify(a)}`);
    }
    assert.equal(held.status, 503, `a first playlist that cannot come within the hold: ${JSON.stringify(held)}`);
    assert.ok(held.took_ms >= 3000, `held ${held.took_ms} ms before the 503`);
    // Retry-After is delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
    const retry = held.retry_after || '';
    assert.ok(/^\d+$/.test(retry) || !Number.isNaN(Date.parse(retry)), `503 with Retry-After (got ${held.retry_after})`);
  } finally {
    for (const stop of stops) await stop();
  }
});

test('ffmpeg reads the demo as a non-LL client across a kill -9 and restart', { timeout: 90_000 }, async () => {
  const server = await startServer({ demo: true });
  const stops = [server.stop];
  try {
    const url = `${server.base}/demo/index.m3u8`;
    await waitFor('three complete segments', async () => ((await fetchText(url)).match(/#EXTINF/g) || []).length >= 3, 20000);
    // Every decoded video frame is one framecrc line, flushed as it is written; its arrival
    // time tells when ffmpeg read it.
    const frames = [];
    let partial = '';
    const reader = spawnTracked('ffmpeg-reader', 'ffmpeg', [
      '-hide_banner', '-nostats', '-loglevel', 'warning', '-i', url, '-t', '20',
      '-map', '0:v:0', '-f', 'framecrc', '-flush_packets', '1', '-',
    ], {
      onStdout: (d) => {
        const lines = (partial + d.toString('latin1')).split('\n');
        partial = lines.pop();
        for (const l of lines) if (l.startsWith('0,')) frames.push({ at: Date.now(), pts: Number(l.split(',')[2]) });
      },
    });
    stops.unshift(reader.stop);
    await waitFor('ffmpeg decoding frames', () => frames.length > 0 || reader.exitInfo(), 20000);
    await sleep(8000);
    const kill = Date.now();
    const counts = await requestCounts(server.base);
    await server.kill();
    await sleep(Math.max(0, kill + DOWN_MS - Date.now()));
    const restart = Date.now();
    const second = await startServer({ demo: true, port: server.port });
    stops.unshift(second.stop);
    const exit = await Promise.race([reader.exited, sleep(40000).then(() => null)]);
    const afterRestart = frames.filter((f) => f.at >= restart);
    const beforeKill = frames.filter((f) => f.at < kill);
    const gaps = frames.slice(1).map((f, i) => f.at - frames[i].at);
    report({
      bench: 'e2e/restart_ffmpeg_reader',
      client: 'ffmpeg (libavformat hls)',
      frames_before_kill: beforeKill.length,
      frames_during_outage: frames.length - beforeKill.length - afterRestart.length,
      frames_after_restart: afterRestart.length,
      first_frame_after_restart_s: afterRestart.length ? r3((afterRestart[0].at - restart) / 1000) : null,
      longest_gap_ms: Math.max(0, ...gaps),
      pts_before_kill_last: beforeKill.at(-1)?.pts ?? null,
      pts_after_restart_first: afterRestart[0]?.pts ?? null,
      ffmpeg_exit: exit ?? 'still reading after 40 s',
      ffmpeg_stderr: reader.log().slice(-2000),
      origin_before_kill: errorsOf(counts),
      origin_after_restart: await requestCounts(second.base),
    });
    // What the design promises a classic client: the stream until the kill. Across the kill it
    // has to ride out refused connections, which is the client's business (libavformat gives
    // up on a playlist it cannot reload). If it does ride them out, the numbers it finds are
    // above the ones it read, so it goes on from the newest segments at once rather than
    // waiting for the numbers to climb back to where it was.
    assert.ok(beforeKill.length >= 150, `ffmpeg decoded ${beforeKill.length} frames before the kill`);
    if (afterRestart.length) {
      assert.ok(afterRestart[0].at - restart <= 10000,
        `ffmpeg's first frame after the restart came ${afterRestart[0].at - restart} ms after it`);
    }
  } finally {
    for (const stop of stops) await stop();
  }
});
