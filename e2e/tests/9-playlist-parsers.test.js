// Scenario 9: two independent playlist parsers from the npm registry read every form of
// playlist the origin serves: hls-parser in strict mode (it throws on what the spec forbids)
// and m3u8-parser (video.js's, which reports what it cannot read as warnings). The forms:
// full, delta updates (YES and v2), a blocking request for the next part, a blocking request
// with a skip, a request for an older part, and the multivariant playlist, for the demo and
// for both renditions of a two-encoder group; plus the early
// delta request, made before anything is past the Skip Boundary, which must be the full
// playlist (docs/conformance.md R13: never an EXT-X-SKIP with SKIPPED-SEGMENTS=0). A third
// stream comes in over RTMP (ffmpeg's FLV with x264 B-frames and AAC), packaged by the origin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { startServer, startEncoder, waitFor, fetchText, report, freePort } from '../lib/harness.js';
import { spawnTracked } from '../lib/procs.js';

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

/**
 * TARGETDURATION against the segments of a full playlist: it must be the longest EXTINF rounded
 * (docs/conformance.md R1: measured from the stream's first segment).
 */
function assertTargetDurationFits(name, text) {
  const td = Number(text.match(/#EXT-X-TARGETDURATION:(\d+)/)[1]);
  const extinfs = [...text.matchAll(/#EXTINF:([\d.]+),/g)].map((m) => Number(m[1]));
  assert.ok(extinfs.length > 0, `${name} lists segments`);
  const longest = Math.max(...extinfs);
  assert.equal(td, Math.round(longest), `${name}: TARGETDURATION ${td}, longest segment ${longest} s`);
  return { td, longest };
}

/**
 * Every form of `stream`'s media playlist (waiting until a delta update skips something), each
 * read by both parsers, and the multivariant playlist of its group. Returns the parsers'
 * counts per form and the target duration check.
 */
async function checkForms(base, stream, group) {
  const url = `${base}/${stream}/index.m3u8`;
  const forms = {};
  await waitFor(`a complete segment of ${stream}`, async () => (await fetchText(url)).includes('#EXTINF'), 20000);

  // Early: CAN-SKIP-UNTIL is advertised, nothing is past the Skip Boundary yet. With the
  // streams' 2 s segments TARGETDURATION is 2, so the Skip Boundary (6 × TD) is 12 s and delta
  // updates skip something after about 15 s.
  const early = await fetchText(url);
  assert.match(early, /CAN-SKIP-UNTIL=12/);
  for (const skip of ['YES', 'v2']) {
    const text = await fetchText(`${url}?_HLS_skip=${skip}`);
    assert.ok(!text.includes('EXT-X-SKIP'), `an early _HLS_skip=${skip} is the full playlist\n${text}`);
    forms[`early_skip_${skip}`] = text;
  }

  await waitFor(`a delta update of ${stream} that skips segments`, async () =>
    /#EXT-X-SKIP:SKIPPED-SEGMENTS=[1-9]/.test(await fetchText(`${url}?_HLS_skip=YES`)), 40000);
  const full = await fetchText(url);
  forms.full = full;
  forms.delta_yes = await fetchText(`${url}?_HLS_skip=YES`);
  forms.delta_v2 = await fetchText(`${url}?_HLS_skip=v2`);
  const { msn, parts } = openPosition(full);
  forms.blocking_next_part = await fetchText(`${url}?_HLS_msn=${msn}&_HLS_part=${parts}`, 10000);
  forms.blocking_with_skip = await fetchText(`${url}?_HLS_msn=${msn}&_HLS_part=${parts + 1}&_HLS_skip=YES`, 10000);
  forms.older_part = await fetchText(`${url}?_HLS_msn=${msn - 1}&_HLS_part=0`);
  forms.multivariant = await fetchText(`${base}/${group}/master.m3u8`);

  assert.match(forms.delta_yes, /#EXT-X-SKIP:SKIPPED-SEGMENTS=[1-9]\d*\n/);
  assert.equal(forms.delta_v2.includes('RECENTLY-REMOVED-DATERANGES'), false, 'v2 is answered as YES');
  assert.match(forms.blocking_with_skip, /#EXT-X-SKIP:/);
  assert.match(forms.multivariant, /#EXT-X-STREAM-INF:/);
  const counts = {};
  for (const [name, text] of Object.entries(forms)) {
    const { parsed, manifest } = parseBoth(`${stream} ${name}`, text);
    counts[name] = name === 'multivariant' ? manifest.playlists.length : parsed.segments.length;
    if (name === 'multivariant') {
      assert.equal(parsed.isMasterPlaylist, true);
      assert.ok(manifest.playlists.length >= 1, `m3u8-parser lists the variant\n${text}`);
    } else {
      assert.equal(parsed.isMasterPlaylist, false);
      assert.ok(manifest.segments.length >= 1 || manifest.preloadHints, `m3u8-parser reads ${name}`);
    }
  }
  return { counts, target: assertTargetDurationFits(`${stream} full`, full) };
}

test('hls-parser (strict) and m3u8-parser accept every form of playlist the origin serves', { timeout: 120_000 }, async () => {
  // The origin's defaults (TARGETDURATION measured per stream): the demo, and a group of two
  // renditions pushed by ffmpeg with a 2 s GOP, whose media playlists carry
  // EXT-X-RENDITION-REPORT and whose multivariant playlist lists both.
  const rtmpPort = await freePort();
  const server = await startServer({ demo: true, args: ['--rtmp-listen', `127.0.0.1:${rtmpPort}`] });
  const encoders = [];
  try {
    for (const [name, size] of [['hi', '1280x720'], ['lo', '640x360']]) {
      encoders.push(startEncoder(`${server.base}/ingest/live/${name}`, { size, gop: 60 }));
    }
    encoders.push(spawnTracked('ffmpeg-rtmp', 'ffmpeg', [
      '-hide_banner', '-nostats', '-loglevel', 'error', '-nostdin', '-re',
      '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30',
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-c:v', 'libx264', '-preset', 'veryfast', '-bf', '2', '-pix_fmt', 'yuv420p',
      '-g', '60', '-keyint_min', '60', '-sc_threshold', '0',
      '-c:a', 'aac', '-f', 'flv', `rtmp://127.0.0.1:${rtmpPort}/rtmp/cam`,
    ], { stopSignal: 'SIGINT' }));
    const [demo, hi, lo, rtmp] = await Promise.all([
      checkForms(server.base, 'demo', 'demo'),
      checkForms(server.base, 'live/hi', 'live'),
      checkForms(server.base, 'live/lo', 'live'),
      checkForms(server.base, 'rtmp/cam', 'rtmp'),
    ]);
    for (const { target } of [demo, hi, lo, rtmp]) assert.equal(target.td, 2, 'TARGETDURATION 2 with 2 s segments');
    const master = await fetchText(`${server.base}/live/master.m3u8`);
    assert.equal((master.match(/#EXT-X-STREAM-INF:/g) || []).length, 2, master);
    assert.match(await fetchText(`${server.base}/live/hi/index.m3u8`), /#EXT-X-RENDITION-REPORT:URI="..\/lo\/index.m3u8"/);
    for (const e of encoders) assert.equal(e.exitInfo(), null, `ffmpeg stopped: ${e.log()}`);
    report({
      bench: 'e2e/playlist_parsers',
      parsers: ['hls-parser 0.16.1 strict', 'm3u8-parser 7.2.0'],
      forms: { demo: demo.counts, 'live/hi': hi.counts, 'live/lo': lo.counts, 'rtmp/cam': rtmp.counts },
      target_duration: { demo: demo.target, 'live/hi': hi.target, 'live/lo': lo.target, 'rtmp/cam': rtmp.target },
    });
  } finally {
    for (const e of encoders) await e.stop();
    await server.stop();
  }
});
