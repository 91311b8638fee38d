// Scenario 6: hls.js plays the demo through an nginx proxy_cache tier configured as
// deploy/nginx/playlists.conf, and what the tier caches is what the origin serves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, waitForSegment, launchBrowser, report, fetchWithin, fetchText, sleep } from '../lib/harness.js';
import { openPlayerPage, play, playbackReport, assertPlayedWell } from '../lib/player.js';
import { startNginx } from '../lib/nginx.js';

test('hls.js plays the demo through an nginx proxy_cache tier', { timeout: 120_000 }, async () => {
  const server = await startServer({ demo: true });
  const stops = [server.stop];
  let nginx;
  try {
    nginx = await startNginx(server.port);
    stops.unshift(nginx.stop);
    // Waited for on the origin: a 404 for the not-yet-started stream is cacheable (1 × TD,
    // App. B.1 [docs/conformance.md R27]) and would be served by the tier for 4 s.
    await waitForSegment(server.base, 'demo');
    const browser = await launchBrowser();
    stops.unshift(browser.close);
    const page = await openPlayerPage(browser, nginx.base);
    // Another browser (own profile, own HTTP cache), so the tier, not Chromium, serves it.
    const other = await launchBrowser();
    stops.unshift(other.close);
    const second = await openPlayerPage(other, nginx.base);
    const earlier = nginx.accessLog().length;
    // Two viewers: the first meets a cold cache; the second joins 1.5 s later, while the first
    // one's tune-in playlist would still be fresh in a cache (a plain playlist lives ½ TD =
    // 2 s), and is otherwise served what the first one's requests left in the cache.
    const [result, joined] = await Promise.all([
      play(page, `${nginx.base}/demo/index.m3u8`, { origin: server.base }),
      sleep(1500).then(() => play(second, `${nginx.base}/demo/index.m3u8`)),
    ]);
    report(playbackReport('nginx_cache_second_viewer', joined));

    // What the players asked the tier for.
    const log = nginx.accessLog().slice(earlier);
    const byStatus = {};
    const byCache = {};
    for (const r of log) {
      byStatus[r.status] = (byStatus[r.status] || 0) + 1;
      byCache[r.cache] = (byCache[r.cache] || 0) + 1;
    }
    const blocking = log.filter((r) => /index\.m3u8\?_HLS_msn=/.test(r.request || ''));
    report({ ...playbackReport('nginx_cache', result), nginx_requests: log.length, by_status: byStatus, by_cache_status: byCache, blocking_reloads: blocking.length });
    assertPlayedWell(assert, result);
    assertPlayedWell(assert, joined);
    // The viewer who joined a warm cache plays as close to live as the first: the tier does
    // not hand it an old playlist as the live edge (nginx sends no Age for hls.js to correct by).
    assert.ok(joined.latency.median <= result.latency.median + 0.6,
      `second viewer ${joined.latency.median} s behind live, first ${result.latency.median} s`);
    // The second viewer is served from what the first one's requests cached.
    assert.ok((byCache.HIT || 0) >= 0.3 * log.length, `cache statuses ${JSON.stringify(byCache)}`);
    assert.ok(blocking.length >= 10, `blocking reloads went through nginx: ${blocking.length}`);
    const failed = log.filter((r) => !(r.status >= 200 && r.status < 400));
    assert.deepEqual(failed, [], 'every request through the tier succeeded');

    // The cache answers again what the player fetched, byte for byte what the origin serves
    // for that URL: a blocking reload (its directives in the key) and a part named by it.
    const path = /^GET (\S+) HTTP/.exec(blocking.at(-1).request)[1];
    // Another Accept-Encoding string than Chromium's: the tier keys on gzip-or-not only.
    const cached = await fetchWithin(`${nginx.base}${path}`, 15000, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(cached.headers.get('x-cache-status'), 'HIT', `${path} from the cache`);
    const cachedBody = await cached.text();
    assert.equal(cachedBody, await fetchText(`${server.base}${path}`, 15000), `${path}: the tier and the origin agree`);
    const partUri = [...cachedBody.matchAll(/#EXT-X-PART:[^\n]*URI="([^"]+)"/g)].at(-1)[1];
    const partUrl = new URL(partUri, `${nginx.base}${path}`).href;
    const first = await fetchWithin(partUrl);
    await first.arrayBuffer();
    const again = await fetchWithin(partUrl);
    assert.equal(again.headers.get('x-cache-status'), 'HIT', `${partUrl} cached`);
    assert.deepEqual(Buffer.from(await again.arrayBuffer()), Buffer.from(await (await fetchWithin(partUrl.replace(nginx.base, server.base))).arrayBuffer()));
  } catch (e) {
    if (nginx) console.error(`nginx: ${nginx.log().slice(-4000)}`);
    throw e;
  } finally {
    for (const stop of stops) await stop();
  }
});
