// Scenario 13: upgrades without a gap (deploy/README.md). A second origin started with the
// same --listen and --upgrade-socket while the first one serves takes over its listening
// socket; the first one answers what it holds, stops its sources and exits by itself. Players
// must not notice: 100 simulated LL-HLS players (crates/playlists-server/examples/loadgen)
// and hls.js in Chromium play the demo across the upgrade with 0 errors and no stall over 1 s.
// A pushed stream moves with its encoder, which the old origin cuts off when it stops and
// which reconnects (here: restarted by a loop, as a supervisor would) to the new one; players
// asking for the stream meanwhile are held until it is back, and hls.js plays on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  startServer, startEncoder, waitForSegment, launchBrowser, report, fetchWithin, sleep,
  WARMUP, SECONDS,
} from '../lib/harness.js';
import { openPlayerPage, play, playbackReport } from '../lib/player.js';
import { makeTempDir, removeTempDir } from '../lib/procs.js';
import { runLoadgen } from '../lib/loadgen.js';

const PLAYERS = 100;
/** Second of hls.js playback (from its first frame) at which the new origin is started. */
const UPGRADE_AT = 8;
/** A frozen picture longer than this is a stall a viewer notices (as in assertPlayedWell). */
const STALL_MS = 1000;
/** hls.js error events that report a stall and its remedies, not a failure. */
const STALL_EVENTS = ['bufferStalledError', 'bufferNudgeOnStall', 'bufferSeekOverHole'];
/** How long the old origin may take to hand over, drain and exit. */
const EXIT_WITHIN_MS = 15000;

/**
 * An encoder that is started again whenever it exits (as systemd's Restart= or OBS's
 * auto-reconnect would), until `stop()`. `starts` counts its runs.
 */
function supervisedEncoder(url) {
  let current = null;
  let stopped = false;
  const state = { starts: 0, exits: [] };
  const loop = (async () => {
    while (!stopped) {
      current = startEncoder(url);
      state.starts += 1;
      const exit = await current.exited;
      state.exits.push({ at: Date.now(), ...exit, log: current.log().slice(-300) });
      if (!stopped) await sleep(300);
    }
  })();
  return {
    state,
    async stop() {
      stopped = true;
      await current?.stop();
      await loop;
    },
  };
}

/**
 * hls.js plays `stream` (and, with `players`, loadgen's players follow it); at UPGRADE_AT a
 * second origin with the same flags is started. Returns what the players saw and when.
 */
async function playAcrossUpgrade({ demo, stream, players }) {
  const dir = makeTempDir('playlists-e2e-upgrade-');
  const args = ['--upgrade-socket', join(dir, 'upgrade.sock')];
  const stops = [];
  const t = {};
  try {
    const first = await startServer({ demo, args });
    stops.unshift(first.stop);
    const { base, port } = first;
    let encoder = null;
    if (!demo) {
      encoder = supervisedEncoder(`${base}/ingest/${stream}`);
      stops.unshift(encoder.stop);
    }
    await waitForSegment(base, stream);
    const secs = WARMUP + SECONDS + 5;
    const load = players ? runLoadgen(`${base}/${stream}/index.m3u8`, PLAYERS, secs) : null;
    load?.catch(() => {});
    const browser = await launchBrowser();
    stops.unshift(browser.close);
    const page = await openPlayerPage(browser, base);
    await page.evaluate(() => performance.setResourceTimingBufferSize(100000));
    let second = null;
    let upgrade = null;
    const result = await play(page, `${base}/${stream}/index.m3u8`, {
      onSecond: async (i) => {
        if (i !== UPGRADE_AT) return;
        t.upgrade = Date.now();
        upgrade = (async () => {
          second = await startServer({ demo, args, port });
          stops.unshift(second.stop);
          t.second_answers = Date.now();
          const exited = await Promise.race([first.exited, sleep(EXIT_WITHIN_MS).then(() => null)]);
          t.first_exited = exited ? Date.now() : null;
          t.first_exit = exited;
          // A player asking for the stream right after the switch: answered (held while a
          // pushed stream's encoder reconnects), with a complete segment.
          const r = await fetchWithin(`${base}/${stream}/index.m3u8`, 20000);
          t.after_status = r.status;
          t.after_has_segment = (await r.text()).includes('#EXTINF');
        })();
        upgrade.catch(() => {});
      },
    });
    await upgrade;
    // What the page fetched around the switch: [ms from the upgrade, status, path, ms taken].
    const fetched = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => [
      performance.timeOrigin + e.startTime, e.responseStatus, e.name, e.duration]));
    t.fetched = fetched.filter(([at]) => at >= t.upgrade + 1000 && at <= t.upgrade + 6000)
      .map(([at, status, url, ms]) => [Math.round(at - t.upgrade), status, new URL(url).pathname + new URL(url).search, Math.round(ms)]);
    return {
      result, t, load: load ? await load : null,
      firstLog: first.log(), secondLog: second?.log() ?? '', encoder: encoder?.state,
    };
  } finally {
    for (const stop of stops) await stop();
    removeTempDir(dir);
  }
}

const r3 = (x) => (typeof x === 'number' ? Math.round(x * 1000) / 1000 : x);

/** Asserts `checks` ([name, passed, seen]) after reporting them with `extra`. */
function reportAndAssert(name, run, checks, extra) {
  const { result, t } = run;
  const since = (at) => (at && t.upgrade ? Math.round(at - t.upgrade) / 1000 : null);
  const failed = checks.filter(([, ok]) => !ok);
  report({
    ...playbackReport(name, result),
    failed_checks: failed.map(([n]) => n),
    upgrade_at_s: UPGRADE_AT,
    second_answers_s: since(t.second_answers),
    first_exited_s: since(t.first_exited),
    first_exit: t.first_exit,
    stall_log: result.state.stallLog.map((s) => ({ from_upgrade_s: since(s.startedAt), ms: s.ms })),
    hls_errors: result.state.errorLog.map((e) => ({ ...e, at: since(e.at) })),
    fetched_around_upgrade: t.fetched,
    per_second_around_upgrade: result.samples.filter((s) => t.upgrade && s.at >= t.upgrade - 2000).slice(0, 10)
      .map((s) => ({ s: since(s.at), latency: r3(s.latency), buffered: r3(s.buffered) })),
    ...extra,
  });
  assert.ok(failed.length === 0, `${failed.length} of ${checks.length} checks failed:\n`
    + `${failed.map(([n, , seen]) => `${n}: ${seen}`).join('\n')}\nhls.js errors: ${JSON.stringify(result.state.errorLog)}`
    + `\nold origin: ${run.firstLog.slice(-2000)}\nnew origin: ${run.secondLog.slice(-2000)}`);
}

/** What every upgrade must show: the old process hands over and exits cleanly, hls.js plays on. */
function commonChecks(run) {
  const { result, t, firstLog, secondLog } = run;
  const { samples, state } = result;
  return [
    ['no_fatal_error', state.fatal === null, `fatal hls.js error ${state.fatal}`],
    ['played_to_the_end', samples.length === WARMUP + SECONDS, `played ${samples.length} of ${WARMUP + SECONDS} s`],
    ['taken_over', /took over the listening socket/.test(secondLog), 'the new origin did not say it took the socket over'],
    ['old_exits_cleanly', t.first_exit?.code === 0, `the old origin's exit: ${JSON.stringify(t.first_exit)} (${/stops accepting and drains/.test(firstLog) ? 'it drained' : 'it never drained'})`],
    ['answered_after', t.after_status === 200 && t.after_has_segment, `a playlist request after the switch: ${t.after_status}, segment listed: ${t.after_has_segment}`],
    ['low_latency_mode', state.partsLoaded > 0, 'hls.js loaded no part'],
  ];
}

test(`demo: ${PLAYERS} simulated players and hls.js play on across an upgrade with no error and no stall`, { timeout: 150_000 }, async () => {
  const run = await playAcrossUpgrade({ demo: true, stream: 'demo', players: true });
  const { result, load } = run;
  const long = result.state.stallLog.filter((s) => s.ms > STALL_MS);
  const errors = result.state.errorLog.filter((e) => !STALL_EVENTS.includes(e.details));
  const advanced = result.samples.at(-1).currentTime - result.samples[0].currentTime;
  const wall = (result.samples.at(-1).at - result.samples[0].at) / 1000;
  reportAndAssert('upgrade_demo', run, [
    ...commonChecks(run),
    ['no_stall', long.length === 0, `stalls over ${STALL_MS} ms: ${JSON.stringify(long)}`],
    // hls.js reports a stall (and how it gets over one) as an error event too; those are
    // measured by the stall check, every other error counts here (a 404, a timeout, ...).
    ['no_hls_error', errors.length === 0, `hls.js errors: ${JSON.stringify(errors)}`],
    ['time_advanced', advanced >= 0.9 * wall, `currentTime advanced ${advanced.toFixed(2)} s in ${wall.toFixed(2)} s`],
    ['loadgen_no_error', load.errors === 0, `loadgen: ${load.errors} errors ${JSON.stringify(load.error_kinds)} (last: ${load.last_error})`],
    ['loadgen_no_lost_part', load.lost_parts === 0 && load.msn_regressions === 0,
      `loadgen: ${load.lost_parts} lost parts, ${load.msn_regressions} media sequence regressions`],
    ['loadgen_all_moved', load.new_runs >= PLAYERS && load.players_active_at_end === PLAYERS,
      `loadgen: ${load.new_runs} players followed the new process, ${load.players_active_at_end} of ${PLAYERS} active at the end`],
  ], { loadgen: load });
});

test('ffmpeg push: the encoder moves to the new origin and hls.js plays on', { timeout: 150_000 }, async () => {
  const run = await playAcrossUpgrade({ demo: false, stream: 'cam1' });
  const { result, encoder } = run;
  const long = result.state.stallLog.filter((s) => s.ms > STALL_MS);
  reportAndAssert('upgrade_ffmpeg', run, [
    ...commonChecks(run),
    ['encoder_reconnected', encoder.starts >= 2, `the encoder ran ${encoder.starts} times: ${JSON.stringify(encoder.exits)}`],
    // Like an encoder restart: the picture may freeze once while the encoder reconnects.
    ['at_most_one_stall', long.length <= 1, `stalls over ${STALL_MS} ms: ${JSON.stringify(long)}`],
  ], { encoder_runs: encoder.starts });
});
