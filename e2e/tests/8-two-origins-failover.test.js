// Scenario 8: two origins fed the same encoder bytes stand behind the nginx tier, one as its
// backup (deploy/nginx/README.md). They serve byte-identical playlists and media while live,
// and when the first one stops mid-playback, hls.js goes on playing from the second through
// the tier: same URLs, same bytes, same PROGRAM-DATE-TIMEs (dated from the encoder's prft).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, waitForSegment, launchBrowser, report, fetchWithin, fetchText, WARMUP } from '../lib/harness.js';
import { openPlayerPage, play, playbackReport, assertPlayedWell, summarize } from '../lib/player.js';
import { startNginx } from '../lib/nginx.js';
import { startRelayedEncoder } from '../lib/relay.js';

/** The body, ETag and status of `url`, for comparing two origins' answers. */
async function answer(url) {
  const r = await fetchWithin(url, 15000);
  return { status: r.status, etag: r.headers.get('etag'), body: Buffer.from(await r.arrayBuffer()) };
}

test('two origins fed the same bytes: identical answers, and hls.js fails over between them through nginx', { timeout: 150_000 }, async () => {
  const a = await startServer();
  const b = await startServer();
  let aStopped = null;
  const stops = [b.stop, () => aStopped || a.stop()];
  let nginx;
  try {
    const encoder = startRelayedEncoder([`${a.base}/ingest/cam1`, `${b.base}/ingest/cam1`]);
    stops.unshift(encoder.stop);
    for (const o of [a, b]) {
      await waitForSegment(o.base, 'cam1').catch((e) => {
        throw new Error(`${e.message}\nffmpeg: ${encoder.log()}\norigin: ${o.log().slice(-4000)}`);
      });
    }

    // While both are live: the same URL gets the same bytes and ETag from either. The newest
    // version A lists, and every part, segment and init it names (B may be a part behind: a
    // blocking request waits for it).
    const latest = await fetchText(`${a.base}/cam1/index.m3u8`);
    const msn = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(latest)[1]) + (latest.match(/^#EXTINF:/gm) || []).length;
    const partsInOpen = latest.split(/^#EXTINF:.*\n.*$/m).at(-1).match(/^#EXT-X-PART:/gm)?.length || 0;
    const version = `cam1/index.m3u8?_HLS_msn=${msn}&_HLS_part=${Math.max(0, partsInOpen - 1)}`;
    const fromA = await fetchText(`${a.base}/${version}`);
    const named = [...new Set([...fromA.matchAll(/URI="([^"]+\.mp4)"/g)].map((m) => m[1])
      .concat(fromA.split('\n').filter((l) => l && !l.startsWith('#'))))];
    const hinted = /#EXT-X-PRELOAD-HINT:[^\n]*URI="([^"]+)"/.exec(fromA)?.[1];
    const urls = [version, `${version}&_HLS_skip=YES`, ...named.filter((u) => u !== hinted).map((u) => `cam1/${u}`)];
    const differing = [];
    for (const u of urls) {
      const [x, y] = [await answer(`${a.base}/${u}`), await answer(`${b.base}/${u}`)];
      assert.equal(x.status, 200, `${u} from A`);
      if (x.etag !== y.etag || !x.body.equals(y.body)) differing.push(u);
    }
    assert.ok(urls.length >= 10, `compared ${urls.length} URLs`);
    assert.deepEqual(differing, [], 'origins A and B answer the same bytes');

    nginx = await startNginx(a.port, { backupPort: b.port });
    stops.unshift(nginx.stop);
    const browser = await launchBrowser();
    stops.unshift(browser.close);
    const page = await openPlayerPage(browser, nginx.base);
    const earlier = nginx.accessLog().length;
    let killedAt = null;
    let logAtKill = 0;
    const result = await play(page, `${nginx.base}/cam1/index.m3u8`, {
      onSecond: (i) => {
        // Origin A stops (SIGTERM: it answers held requests with 503 and closes) halfway
        // through the measured part of the playback.
        if (i === WARMUP && !aStopped) {
          killedAt = i;
          logAtKill = nginx.accessLog().length;
          aStopped = a.stop();
        }
      },
    });
    await aStopped;
    const log = nginx.accessLog().slice(earlier);
    const after = nginx.accessLog().slice(logAtKill);
    const fromOrigin = (r, o) => (r.upstream || '').split(/[ ,:]+/).includes(String(o.port));
    const failed = log.filter((r) => !(r.status >= 200 && r.status < 400));
    // PROGRAM-DATE-TIME is the same on both, so the player's dates do not jump: wall clock −
    // PDT at the playhead less hls.latency (live edge − playhead, no dates in it) stays put,
    // whatever the playback itself does across the switch.
    const datesOffset = (from, to) =>
      summarize(result.samples.slice(from, to).map((s) => s.behindPdt - s.latency));
    const pdtBefore = datesOffset(WARMUP - 5, killedAt);
    const pdtAfter = datesOffset(killedAt + 2);
    report({
      ...playbackReport('two_origins_failover', result),
      compared_urls: urls.length,
      killed_at_s: killedAt,
      nginx_requests: log.length,
      after_kill: { requests: after.length, from_b: after.filter((r) => fromOrigin(r, b)).length, from_a: after.filter((r) => fromOrigin(r, a)).length },
      pdt_minus_latency_before_s: pdtBefore.median,
      pdt_minus_latency_after_s: pdtAfter.median,
      failed_requests: failed.slice(0, 10),
      uploads: encoder.uploads.map((u) => ({ bytes: u.bytes, error: u.error })),
    });
    assert.notEqual(killedAt, null, 'origin A was stopped during playback');
    assertPlayedWell(assert, result);
    assert.deepEqual(failed, [], 'every request through the tier succeeded, across the failover');
    assert.ok(log.slice(0, logAtKill - earlier).some((r) => fromOrigin(r, a)), 'origin A served before it stopped');
    assert.ok(after.filter((r) => fromOrigin(r, b)).length >= 20, 'origin B served after A stopped');
    assert.ok(Math.abs(pdtAfter.median - pdtBefore.median) < 0.1,
      `(wall clock − PDT) − latency: ${pdtBefore.median} s before, ${pdtAfter.median} s after the failover`);
  } catch (e) {
    if (nginx) console.error(`nginx: ${nginx.log().slice(-4000)}`);
    throw e;
  } finally {
    for (const stop of stops) await stop();
  }
});
