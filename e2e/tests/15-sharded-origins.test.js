// Scenario 15: streams sharded across three origins behind one nginx tier
// (deploy/nginx/shards.conf, docs/scale.md). Thirty synthetic encoders (loadgen --push: the
// demo clip in real time over HTTP ingest) publish through nginx and one simulated LL-HLS
// player per stream plays through it; every request of a stream lands on the origin its name
// hashes to. Then one origin is killed (SIGKILL): its encoders reconnect through nginx to the
// origin the hash now picks, their players pick the stream up there (after an error or two
// while it moves, as a player retries its playlist), and the streams of the two other origins
// never notice (no error, no new run, no lost part).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, report, sleep, fetchWithin, waitFor } from '../lib/harness.js';
import { loadgenBin, runLoadgen } from '../lib/loadgen.js';
import { startNginx } from '../lib/nginx.js';
import { spawnTracked } from '../lib/procs.js';

const STREAMS = 30;
const PLAY_SECS = 40;
/** Seconds into the players' run at which one origin is killed. */
const KILL_AT = 12;

/** Which origin holds each stream, asked of the origins directly (200 on the owner only). */
async function owners(origins, names) {
  const out = {};
  for (const name of names) {
    const held = [];
    for (const [i, o] of origins.entries()) {
      if (o.dead) continue;
      const r = await fetchWithin(`${o.base}/${name}/index.m3u8`, 5000).catch(() => null);
      if (r?.ok) held.push(i);
      await r?.arrayBuffer();
    }
    out[name] = held;
  }
  return out;
}

test(`${STREAMS} streams sharded across three origins by nginx; one origin killed, only its streams move`, { timeout: 240_000 }, async () => {
  const origins = [];
  const stops = [];
  try {
    for (let i = 0; i < 3; i++) {
      // Room for every stream on each origin (after the kill two origins hold all of them).
      const o = await startServer({ args: ['--num-playlists', String(STREAMS + 2)] });
      origins.push(o);
      stops.push(() => (o.dead ? null : o.stop()));
    }
    const nginx = await startNginx(null, { shardPorts: origins.map((o) => o.port) });
    stops.unshift(nginx.stop);
    const names = Array.from({ length: STREAMS }, (_, i) => `shard${i}`);
    // The encoders run as one loadgen process for the whole scenario; players come later.
    const pushSecs = PLAY_SECS + 30;
    const encoders = spawnTracked('loadgen-push', loadgenBin, [
      '--url', `${nginx.base}/{n}/index.m3u8`, '--players', '0', '--names', names.join(','),
      '--push', `${nginx.base}/ingest/{n}`, '--secs', String(pushSecs), '--report-secs', String(pushSecs),
    ]);
    stops.unshift(encoders.stop);

    // Every stream is live on exactly one origin, and the hash spread them over all three.
    let before;
    await waitFor('every stream live on one origin', async () => {
      before = await owners(origins, names);
      return Object.values(before).every((h) => h.length === 1);
    }, 20_000).catch((e) => {
      throw new Error(`${e.message}: ${JSON.stringify(before)}\nencoders: ${encoders.log().slice(-3000)}\nnginx: ${nginx.log().slice(-3000)}`);
    });
    const perOrigin = [0, 1, 2].map((i) => names.filter((n) => before[n][0] === i));
    assert.ok(perOrigin.every((s) => s.length > 0), `the hash left an origin without streams: ${JSON.stringify(perOrigin.map((s) => s.length))}`);
    // The origin with the most streams is the one to kill (the clearest test of the move).
    const victim = perOrigin.reduce((best, s, i) => (s.length > perOrigin[best].length ? i : best), 0);
    const moved = perOrigin[victim];
    const kept = names.filter((n) => !moved.includes(n));

    const players = (subset) => runLoadgen(`${nginx.base}/{n}/index.m3u8`, 1, PLAY_SECS, ['--names', subset.join(',')]);
    const playing = [players(kept), players(moved)];
    await sleep(KILL_AT * 1000);
    origins[victim].dead = true;
    await origins[victim].kill();
    const [keptLoad, movedLoad] = await Promise.all(playing);

    const after = await owners(origins, names);
    report({
      scenario: 'sharded-origins',
      streams: STREAMS,
      per_origin: perOrigin.map((s) => s.length),
      killed_origin: victim,
      kept: { streams: kept.length, errors: keptLoad.errors, new_runs: keptLoad.new_runs, lost_parts: keptLoad.lost_parts, parts: keptLoad.parts },
      moved: {
        streams: moved.length, errors: movedLoad.errors, error_kinds: movedLoad.error_kinds,
        active_at_end: movedLoad.players_active_at_end, parts: movedLoad.parts,
      },
      moved_to: [...new Set(moved.flatMap((n) => after[n]))],
    });

    // The streams of the surviving origins did not notice.
    assert.equal(keptLoad.errors, 0, `kept streams' players saw errors: ${keptLoad.last_error}`);
    assert.equal(keptLoad.new_runs, 0, 'a kept stream started over');
    assert.equal(keptLoad.lost_parts + keptLoad.gaps + keptLoad.duplicates + keptLoad.msn_regressions, 0, JSON.stringify(keptLoad));
    assert.equal(keptLoad.players_active_at_end, kept.length);
    for (const n of kept) assert.deepEqual(after[n], before[n], `${n} moved though its origin lives`);

    // The killed origin's streams are live again on one of the others, and their players
    // followed them there: one new run each, playing at the end.
    for (const n of moved) {
      assert.equal(after[n].length, 1, `${n} is live on ${after[n].length} origins after the kill`);
      assert.notEqual(after[n][0], victim);
    }
    assert.equal(movedLoad.players_active_at_end, moved.length, `moved streams' players stopped: ${movedLoad.last_error}`);
    // During the move a player gets a refused connection (502), or a 404 while its encoder has
    // not reached the new origin yet; it starts over from a plain load, as hls.js retries
    // its playlist. Bounded: a few per stream, and the move costs little playback: the moved
    // streams' players received nearly as many parts per stream as the others'.
    assert.ok(movedLoad.errors <= 5 * moved.length, `moved streams: ${movedLoad.errors} errors (${JSON.stringify(movedLoad.error_kinds)})`);
    const perStream = (load, n) => load.parts / n;
    assert.ok(perStream(movedLoad, moved.length) >= 0.8 * perStream(keptLoad, kept.length),
      `moved streams' players got ${perStream(movedLoad, moved.length)} parts each, the others ${perStream(keptLoad, kept.length)}`);
  } finally {
    for (const stop of stops) await stop();
  }
});
