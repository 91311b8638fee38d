// Scenario 4: the origin's own page at / lists the demo stream and plays it with no internet:
// every request for a host other than the loopback one is refused, and the page must not even
// try one (hls.js is the copy embedded in the binary). Its screenshot is kept in target/e2e/
// (a CI artifact); E2E_DOC_SCREENSHOT=path also writes it there (the README's
// docs/img/demo-page.png is made that way).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, waitForSegment, launchBrowser, report, waitFor, artifacts } from '../lib/harness.js';

test('the page at / lists the demo stream and plays it', { timeout: 90_000 }, async () => {
  const server = await startServer({ demo: true });
  const stops = [server.stop];
  try {
    await waitForSegment(server.base, 'demo');
    const browser = await launchBrowser();
    stops.unshift(browser.close);
    const page = await browser.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    const requests = [];
    page.on('request', (r) => requests.push(r.url()));
    // Offline: only loopback answers. Refused requests are kept, to show none was attempted.
    const refused = [];
    await page.route(() => true, (route) => {
      const url = route.request().url();
      if (isLoopback(url)) return route.continue();
      refused.push(url);
      return route.abort('internetdisconnected');
    });
    await page.goto(`${server.base}/`);
    // The load event has passed: the page's scripts were fetched (or refused) by now.
    assert.deepEqual(refused, [], 'the page tried no host but the origin');

    // Listed: a section titled `demo`, its playlist link and a player bound to it.
    const listed = await page.evaluate(() => [...document.querySelectorAll('section')].map((s) => ({
      title: s.querySelector('h2')?.textContent,
      links: [...s.querySelectorAll('a')].map((a) => a.getAttribute('href')),
      video: s.querySelector('video')?.dataset.src,
    })));
    const demo = listed.find((s) => s.title === 'demo');
    assert.ok(demo, `the page lists ${JSON.stringify(listed)}`);
    assert.ok(demo.links.includes('/demo/index.m3u8'), JSON.stringify(demo));
    assert.equal(demo.video, '/demo/index.m3u8');

    // Plays: the page's own hls.js (embedded in the binary, served by it) moves the picture on.
    const video = page.locator('section:has(h2:text-is("demo")) video');
    await waitFor('the page to start playing', () => video.evaluate((v) => v.currentTime > 0.5), 20000);
    const t1 = await video.evaluate((v) => v.currentTime);
    await page.waitForTimeout(5000);
    const t2 = await video.evaluate((v) => v.currentTime);
    const size = await video.evaluate((v) => [v.videoWidth, v.videoHeight]);
    const shot = join(artifacts, 'web-page.png');
    await page.screenshot({ path: shot });
    if (process.env.E2E_DOC_SCREENSHOT) copyFileSync(shot, process.env.E2E_DOC_SCREENSHOT);
    report({ bench: 'e2e/web_page', played_s: Number((t2 - t1).toFixed(2)), video_size: size, screenshot: 'target/e2e/web-page.png' });

    assert.ok(t2 - t1 >= 4, `the page's video advanced ${(t2 - t1).toFixed(2)} s in 5 s`);
    assert.ok(size[0] > 0 && size[1] > 0, `decoded picture size ${size}`);
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(refused, [], 'playing, the page tried no host but the origin');
    // blob: URLs are the MediaSource hls.js attaches to the video.
    const elsewhere = requests.filter((u) => !u.startsWith(`${server.base}/`) && !u.startsWith(`blob:${server.base}/`));
    assert.deepEqual(elsewhere, [], 'the page loads everything from the origin');
    const script = requests.filter((u) => u.startsWith(`${server.base}/assets/hls.min.js?v=`));
    assert.equal(script.length, 1, `hls.js came from the origin, content-addressed: ${requests.slice(0, 5)}`);
  } finally {
    for (const stop of stops) await stop();
  }
});

/** Whether `url` is on this machine's loopback (what an offline machine can still reach). */
function isLoopback(url) {
  const { protocol, hostname } = new URL(url);
  if (protocol === 'data:' || protocol === 'blob:') return true;
  return ['127.0.0.1', 'localhost', '[::1]'].includes(hostname);
}
