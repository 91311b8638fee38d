// Scenario 7: 200 simulated LL-HLS players (crates/playlists-server/examples/loadgen.rs)
// play the demo through the nginx tier of deploy/nginx/playlists.conf, and the origin answers
// each playlist version and each part at most once: the cache key keeps the `_HLS_*` query
// and `proxy_cache_lock` collapses the players' identical requests into one.
//
// Counted on both sides: the tier's access log says which distinct URLs the players asked
// for, the origin's /metrics how many requests reached it, by route. With `proxy_cache_lock
// off` the same run fails: 14,753 blocking playlist requests reached the origin for 90 URLs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, waitForSegment, report, requestCounts, countsSince, routeTotal, errorsOf, fetchText } from '../lib/harness.js';
import { runLoadgen } from '../lib/loadgen.js';
import { startNginx } from '../lib/nginx.js';

const PLAYERS = Number(process.env.E2E_LOAD_PLAYERS || 200);
const LOAD_SECS = Number(process.env.E2E_LOAD_SECS || 30);

/** `playlists_stream_parts_published_total` of `stream` on the origin. */
async function partsPublished(base, stream) {
  const text = await fetchText(`${base}/metrics`);
  const m = new RegExp(`^playlists_stream_parts_published_total\\{stream="${stream}"\\} (\\d+)$`, 'm').exec(text);
  if (!m) throw new Error(`no parts_published for ${stream} in /metrics`);
  return Number(m[1]);
}

test(`${PLAYERS} simulated players through nginx: one origin request per playlist version and per part`, { timeout: (LOAD_SECS + 90) * 1000 }, async () => {
  const server = await startServer({ demo: true });
  const stops = [server.stop];
  let nginx;
  try {
    nginx = await startNginx(server.port);
    stops.unshift(nginx.stop);
    // Waited for on the origin (a 404 for the not-yet-started stream is cacheable).
    await waitForSegment(server.base, 'demo');
    const logStart = nginx.accessLog().length;
    const before = await requestCounts(server.base);
    const partsBefore = await partsPublished(server.base, 'demo');

    const load = await runLoadgen(`${nginx.base}/demo/index.m3u8`, PLAYERS, LOAD_SECS);

    const after = await requestCounts(server.base);
    const partsAfter = await partsPublished(server.base, 'demo');
    const origin = countsSince(before, after);
    const log = nginx.accessLog().slice(logStart);
    const paths = log.map((r) => (/^GET (\S+) HTTP/.exec(r.request || '') || [])[1]).filter(Boolean);
    const blockingUrls = new Set(paths.filter((p) => /\/index\.m3u8\?.*_HLS_msn=/.test(p)));
    const versions = new Set([...blockingUrls].map((p) => {
      const q = new URLSearchParams(p.split('?')[1]);
      return `${q.get('_HLS_msn')}.${q.get('_HLS_part')}`;
    }));
    const deltaUrls = [...blockingUrls].filter((p) => p.includes('_HLS_skip=YES'));
    const partUrls = new Set(paths.filter((p) => /\/p\d+\.mp4$/.test(p)));
    const byCache = {};
    for (const r of log) byCache[r.cache] = (byCache[r.cache] || 0) + 1;
    // Which URLs the tier sent on more than once (a MISS, or a lock that timed out).
    const fetched = {};
    for (const r of log) {
      if (r.cache !== 'HIT') {
        const p = (/^GET (\S+) HTTP/.exec(r.request || '') || [])[1];
        if (p) fetched[p] = (fetched[p] || 0) + 1;
      }
    }
    const forwardedTwice = Object.entries(fetched).filter(([p, n]) => n > 1 && !/\/index\.m3u8$/.test(p));
    const originBlocking = routeTotal(origin, 'blocking_playlist');
    const originParts = routeTotal(origin, 'part');
    const published = partsAfter - partsBefore;
    report({
      scenario: 'nginx_load',
      players: PLAYERS,
      secs: load.secs,
      loadgen: {
        requests: load.requests, errors: load.errors, gaps: load.gaps, duplicates: load.duplicates,
        msn_regressions: load.msn_regressions, lost_parts: load.lost_parts, parts: load.parts,
        fanout_p50_ms: load.fanout_p50_ms, fanout_p99_ms: load.fanout_p99_ms,
        blocking_p50_ms: load.blocking_p50_ms, blocking_p99_ms: load.blocking_p99_ms, last_error: load.last_error,
      },
      nginx_requests: log.length,
      by_cache_status: byCache,
      distinct_playlist_urls: blockingUrls.size,
      distinct_playlist_versions: versions.size,
      distinct_delta_urls: deltaUrls.length,
      distinct_part_urls: partUrls.size,
      parts_published: published,
      origin_requests: origin,
      origin_blocking_playlist: originBlocking,
      origin_part: originParts,
      forwarded_twice: forwardedTwice.slice(0, 10),
    });

    // The players played: every one of them got every part, in order, without an error.
    assert.equal(load.errors, 0, `loadgen errors (last: ${load.last_error})`);
    assert.equal(load.gaps, 0, 'no part skipped');
    assert.equal(load.duplicates, 0, 'no part served twice');
    assert.equal(load.msn_regressions, 0, 'MEDIA-SEQUENCE never went back');
    assert.equal(load.lost_parts ?? 0, 0, 'no part lost');
    // ~5 parts a second for the whole run, by each player (tune-in and the last held request
    // aside): the numbers below are about real traffic, not an idle tier.
    assert.ok(published >= LOAD_SECS * 4, `parts published during the run: ${published}`);
    assert.ok(load.parts >= 0.9 * PLAYERS * published, `parts received by the players: ${load.parts}`);
    assert.ok(partUrls.size >= published - 10 && partUrls.size <= published + 2,
      `${partUrls.size} distinct parts asked for, ${published} published`);
    assert.ok(versions.size >= published - 10, `${versions.size} playlist versions asked for`);
    // What the players asked the tier for reached the tier, not the origin directly.
    assert.ok(log.length >= load.requests, `tier answered ${log.length} of loadgen's ${load.requests} requests`);

    // The claim: at most one origin request per playlist URL (a version, full or delta) and per
    // part, with no slack. The origin counts a request when it answers it, and loadgen ends
    // only once every answer has arrived, so no request is in flight at either snapshot.
    assert.ok(originBlocking <= blockingUrls.size,
      `origin answered ${originBlocking} blocking playlist requests for ${blockingUrls.size} distinct URLs`);
    assert.ok(originParts <= partUrls.size,
      `origin answered ${originParts} part requests for ${partUrls.size} distinct parts`);
    assert.deepEqual(forwardedTwice, [], 'no URL was sent to the origin twice');
    // Everything else at the origin: one tune-in playlist per player (never cached, by design:
    // see deploy/nginx/README.md), nothing failed.
    assert.deepEqual(errorsOf(origin), {}, 'the origin answered every request');
    assert.ok(routeTotal(origin, 'playlist') <= PLAYERS + 5, `tune-in playlists: ${routeTotal(origin, 'playlist')}`);
    // What the collapsing costs: nginx checks a cache lock every 500 ms (a constant in its
    // source), so a player whose request waited on another's gets the answer up to 500 ms
    // after the first player (measured here: median ~240 ms, p99 ~500 ms; ~6 / 26 ms straight
    // from the origin). More than that would be something else.
    assert.ok(load.fanout_p99_ms < 1000, `fan-out p99 ${load.fanout_p99_ms} ms`);
    // The tier's token checks (`auth_request` to /playback-check, deploy/nginx/README.md):
    // answered from the tier's 5 s memory of them, so a few per stream every 5 s, here 52 for
    // ~60,000 requests in a run; at most one per 500 tier requests.
    assert.ok(routeTotal(origin, 'playback_check') <= log.length / 500,
      `${routeTotal(origin, 'playback_check')} token checks for ${log.length} tier requests`);
    assert.ok(Object.keys(origin).every((k) => /^(playlist|blocking_playlist|part|healthz|metrics|playback_check) /.test(k)),
      `origin routes: ${JSON.stringify(origin)}`);
  } catch (e) {
    if (nginx) console.error(`nginx: ${nginx.log().slice(-4000)}`);
    throw e;
  } finally {
    for (const stop of stops) await stop();
  }
});
