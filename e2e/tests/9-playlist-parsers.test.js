// Scenario 9: two independent playlist parsers from the npm registry read every form of
// playlist the origin serves: hls-parser in strict mode (it throws on what the spec forbids)
// and m3u8-parser (video.js's, which reports what it cannot read as warnings). The forms:
// full, delta updates (YES and v2), a blocking request for the next part, a blocking request
// with a skip, a request for an older part, and the multivariant playlist; plus the early
// delta request, made before anything is past the Skip Boundary, which must be the full
// playlist (docs/conformance.md R13: never an EXT-X-SKIP with SKIPPED-SEGMENTS=0).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { startServer, waitFor, fetchText, report } from '../lib/harness.js';

const require = createRequire(import.meta.url);
const HLS = require('hls-parser');
const { Parser } = require('m3u8-parser');

/** Parses `text` with both parsers; throws with the parser's words if either refuses it. */
function parseBoth(name, text) {
  HLS.setOptions({ strictMode: true });
  let parsed;
  try {
    parsed = HLS.parse(text);
  } catch (e) {
    throw new Error(`hls-parser (strict) refused ${name}: ${e.message}\n${text}`);
  }
  const warnings = [];
  const parser = new Parser();
  parser.on('warn', (w) => warnings.push(w.message));
  parser.push(text);
  parser.end();
  assert.deepEqual(warnings, [], `m3u8-parser warned on ${name}\n${text}`);
  return { parsed, manifest: parser.manifest };
}

/** The open segment's MSN and how many of its parts are listed, read from a full playlist. */
function openPosition(text) {
  const sequence = Number(text.match(/#EXT-X-MEDIA-SEQUENCE:(\d+)/)[1]);
  const complete = (text.match(/^s\d+\.mp4$/gm) || []).length;
  const afterLastSegment = text.split(/^s\d+\.mp4$/m).pop();
  const parts = (afterLastSegment.match(/^#EXT-X-PART:/gm) || []).length;
  return { msn: sequence + complete, parts };
}

test('hls-parser (strict) and m3u8-parser accept every form of playlist the origin serves', { timeout: 120_000 }, async () => {
  // TARGETDURATION 2 with the demo's 2 s segments: the Skip Boundary (6 × TD) is 12 s, so
  // delta updates skip something after about 15 s.
  const server = await startServer({ demo: true, args: ['--target-duration-s', '2'] });
  try {
    const url = `${server.base}/demo/index.m3u8`;
    const forms = {};
    await waitFor('a complete segment', async () => (await fetchText(url)).includes('#EXTINF'), 20000);

    // Early: CAN-SKIP-UNTIL is advertised, nothing is past the Skip Boundary yet.
    const early = await fetchText(url);
    assert.match(early, /CAN-SKIP-UNTIL=12/);
    for (const skip of ['YES', 'v2']) {
      const text = await fetchText(`${url}?_HLS_skip=${skip}`);
      assert.ok(!text.includes('EXT-X-SKIP'), `an early _HLS_skip=${skip} is the full playlist\n${text}`);
      forms[`early_skip_${skip}`] = text;
    }

    await waitFor('a delta update that skips segments', async () =>
      /#EXT-X-SKIP:SKIPPED-SEGMENTS=[1-9]/.test(await fetchText(`${url}?_HLS_skip=YES`)), 40000);
    const full = await fetchText(url);
    forms.full = full;
    forms.delta_yes = await fetchText(`${url}?_HLS_skip=YES`);
    forms.delta_v2 = await fetchText(`${url}?_HLS_skip=v2`);
    const { msn, parts } = openPosition(full);
    forms.blocking_next_part = await fetchText(`${url}?_HLS_msn=${msn}&_HLS_part=${parts}`, 10000);
    forms.blocking_with_skip = await fetchText(`${url}?_HLS_msn=${msn}&_HLS_part=${parts + 1}&_HLS_skip=YES`, 10000);
    forms.older_part = await fetchText(`${url}?_HLS_msn=${msn - 1}&_HLS_part=0`);
    forms.multivariant = await fetchText(`${server.base}/demo/master.m3u8`);

    assert.match(forms.delta_yes, /#EXT-X-SKIP:SKIPPED-SEGMENTS=[1-9]\d*\n/);
    assert.equal(forms.delta_v2.includes('RECENTLY-REMOVED-DATERANGES'), false, 'v2 is answered as YES');
    assert.match(forms.blocking_with_skip, /#EXT-X-SKIP:/);
    assert.match(forms.multivariant, /#EXT-X-STREAM-INF:/);
    const counts = {};
    for (const [name, text] of Object.entries(forms)) {
      const { parsed, manifest } = parseBoth(name, text);
      counts[name] = name === 'multivariant' ? manifest.playlists.length : parsed.segments.length;
      if (name === 'multivariant') {
        assert.equal(parsed.isMasterPlaylist, true);
        assert.ok(manifest.playlists.length >= 1, `m3u8-parser lists the variant\n${text}`);
      } else {
        assert.equal(parsed.isMasterPlaylist, false);
        assert.ok(manifest.segments.length >= 1 || manifest.preloadHints, `m3u8-parser reads ${name}`);
      }
    }
    report({ bench: 'e2e/playlist_parsers', parsers: ['hls-parser 0.16.1 strict', 'm3u8-parser 7.2.0'], forms: counts });
  } finally {
    await server.stop();
  }
});
