// Scenario 14: signed playback (--playback-secret). hls.js in low-latency mode plays a URL
// printed by `playlists sign`, directly and through the nginx tier of deploy/nginx, where two
// viewers with different tokens share the tier's cache (one entry per resource, not one per
// viewer); requests without a token, or with an altered or expired one, get 403, directly and
// through the tier.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { binary, startServer, launchBrowser, report, fetchWithin, fetchText, waitFor, sleep } from '../lib/harness.js';
import { openPlayerPage, play, playbackReport, assertPlayedWell } from '../lib/player.js';
import { startNginx } from '../lib/nginx.js';

const SECRET = 'the e2e playback secret';

/** The URL `playlists sign` prints for `path` on `base`, valid for `ttl`. */
function sign(base, path, ttl, secret = SECRET) {
  return execFileSync(binary, ['sign', '--secret', secret, '--path', path, '--ttl', ttl, '--base', base]).toString().trim();
}

/** The last part URI of the playlist at `url`, resolved against it. */
async function lastPartUrl(url) {
  const text = await fetchText(url, 15000);
  const uri = [...text.matchAll(/#EXT-X-PART:[^\n]*URI="([^"]+)"/g)].at(-1)?.[1];
  assert.ok(uri, `a part in ${text}`);
  return new URL(uri, url).href;
}

/** `url` with its token's last character changed. */
function altered(url) {
  return url.replace(/(token=[^&]*)(.)($|&)/, (_, head, last, tail) => `${head}${last === '0' ? '1' : '0'}${tail}`);
}

test('hls.js plays a signed URL directly and through the nginx tier, which shares its cache between viewers', { timeout: 180_000 }, async () => {
  const server = await startServer({ demo: true, args: ['--playback-secret', SECRET] });
  const stops = [server.stop];
  let nginx;
  try {
    const direct = sign(server.base, '/demo/', '10m');
    assert.match(direct, /\/demo\/index\.m3u8\?token=\d+\.[0-9a-f]{32}$/);
    await waitFor('a complete segment of demo', async () => (await fetchText(direct)).includes('#EXTINF'), 20000);
    assert.equal((await fetchWithin(`${server.base}/demo/index.m3u8`)).status, 403, 'no token, no playlist');

    // Three viewers at once: one straight from the origin, two through the tier with tokens
    // of their own (different expiries), in two browsers so that the tier, not a browser's
    // cache, serves the second what the first fetched.
    nginx = await startNginx(server.port);
    stops.unshift(nginx.stop);
    const browser = await launchBrowser();
    stops.unshift(browser.close);
    const other = await launchBrowser();
    stops.unshift(other.close);
    const alone = await openPlayerPage(browser, server.base);
    const first = await openPlayerPage(browser, nginx.base);
    const second = await openPlayerPage(other, nginx.base);
    const tokens = [sign(nginx.base, '/demo/', '10m'), sign(nginx.base, '/demo/', '20m')];
    assert.notEqual(new URL(tokens[0]).searchParams.get('token'), new URL(tokens[1]).searchParams.get('token'));
    const earlier = nginx.accessLog().length;
    const [result, a, b] = await Promise.all([
      play(alone, direct, { origin: server.base }),
      play(first, tokens[0]),
      sleep(1500).then(() => play(second, tokens[1])),
    ]);
    report(playbackReport('signed_direct', result));
    assertPlayedWell(assert, result);
    const log = nginx.accessLog().slice(earlier);
    const byCache = {};
    for (const r of log) byCache[r.cache] = (byCache[r.cache] || 0) + 1;
    const failed = log.filter((r) => !(r.status >= 200 && r.status < 400));
    report({ ...playbackReport('signed_nginx_first', a), nginx_requests: log.length, by_cache_status: byCache, failed: failed.length });
    report(playbackReport('signed_nginx_second', b));
    assertPlayedWell(assert, a);
    assertPlayedWell(assert, b);
    assert.deepEqual(failed, [], 'every request through the tier succeeded');
    // Shared, not split per viewer: the second viewer is served what the first one's
    // requests cached, playlists and parts alike.
    assert.ok((byCache.HIT || 0) >= 0.3 * log.length, `cache statuses ${JSON.stringify(byCache)}`);
    const hits = (re) => log.filter((r) => r.cache === 'HIT' && re.test(r.request || '')).length;
    assert.ok(hits(/index\.m3u8\?.*_HLS_msn=/) > 0, 'blocking reloads are shared');
    assert.ok(hits(/\/p\d+\.mp4\?token=/) > 0, 'parts are shared');

    // Refusals, directly and through the tier: no token, an altered one, an expired one.
    for (const base of [server.base, nginx.base]) {
      const viewer = sign(base, '/demo/', '10m');
      const part = await lastPartUrl(viewer);
      assert.equal((await fetchWithin(part)).status, 200, part);
      const bare = part.replace(/\?.*$/, '');
      assert.equal((await fetchWithin(bare)).status, 403, bare);
      assert.equal((await fetchWithin(altered(part))).status, 403, altered(part));
      assert.equal((await fetchWithin(altered(viewer))).status, 403, altered(viewer));
      assert.equal((await fetchWithin(sign(base, '/demo/', '10m', 'another secret'))).status, 403);
    }
    // The tier remembers a check per stream and token: a token for another stream, checked
    // (and remembered) there, does not open this stream's cached parts.
    const cached = await lastPartUrl(sign(nginx.base, '/demo/', '10m'));
    assert.equal((await fetchWithin(cached)).status, 200);
    assert.equal((await fetchWithin(cached)).headers.get('x-cache-status'), 'HIT', `${cached} cached`);
    const cam1 = sign(nginx.base, '/cam1/', '10m');
    assert.equal((await fetchWithin(cam1)).status, 404, 'a good token for a stream that is not here');
    const borrowed = cached.replace(/token=[^&]*/, new URL(cam1).search.slice(1));
    assert.equal((await fetchWithin(borrowed)).status, 403, `${borrowed}: another stream's token`);

    // A viewer whose token expires is refused at the next request with it: at once by the
    // origin; by the tier once its 5 s memory of the check has passed.
    const short = sign(nginx.base, '/demo/', '2s');
    assert.equal((await fetchWithin(short)).status, 200);
    await sleep(2500);
    assert.equal((await fetchWithin(short.replace(nginx.base, server.base))).status, 403, 'expired at the origin');
    await sleep(5500);
    assert.equal((await fetchWithin(short)).status, 403, 'expired through the tier');
  } catch (e) {
    if (nginx) console.error(`nginx: ${nginx.log().slice(-4000)}`);
    throw e;
  } finally {
    for (const stop of stops) await stop();
  }
});
