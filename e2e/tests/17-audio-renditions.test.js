// Scenario 17: alternative audio renditions. One encoder sends the picture without sound and
// the sound in two languages as three streams of one group (as broadcast encoders send
// separate tracks); master.m3u8 lists the two as EXT-X-MEDIA:TYPE=AUDIO renditions the video
// variant refers to, and hls.js switches language while playing at the live edge. The tones
// differ (English 440 Hz, French 880 Hz), so the page hears which language plays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { startServer, waitForSegment, launchBrowser, report, fetchText, WARMUP, SECONDS } from '../lib/harness.js';
import { spawnTracked } from '../lib/procs.js';
import { openPlayerPage, play, playbackReport, assertPlayedWell } from '../lib/player.js';

const require = createRequire(import.meta.url);
const HLS = require('hls-parser');
const { Parser } = require('m3u8-parser');

const LANGUAGES = [
  { name: 'audio_en', lang: 'eng', hz: 440 },
  { name: 'audio_fr', lang: 'fra', hz: 880 },
];

/**
 * One ffmpeg, one clock: the video and both languages, each PUT to its own stream. Every
 * input is read in real time (`-re` is per input). Audio fragments are cut at 190 ms: ffmpeg
 * closes a fragment once it reaches `-frag_duration`, so 200 ms would give ten 21.3 ms AAC
 * frames, 213 ms, over PART-TARGET; nine are 192 ms.
 */
function startEncoder(base) {
  const fmp4 = (url, fragUs) => [
    '-f', 'mp4', '-movflags', 'cmaf+empty_moov+default_base_moof+frag_keyframe+skip_trailer',
    '-frag_duration', String(fragUs), '-method', 'PUT', url,
  ];
  const args = [
    '-hide_banner', '-nostats', '-loglevel', 'error',
    '-re', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30',
    ...LANGUAGES.flatMap((l) => ['-re', '-f', 'lavfi', '-i', `sine=frequency=${l.hz}:sample_rate=48000`]),
    '-map', '0:v', '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency',
    '-pix_fmt', 'yuv420p', '-g', '30', '-keyint_min', '30', '-sc_threshold', '0',
    ...fmp4(`${base}/ingest/live/video`, 200000),
    ...LANGUAGES.flatMap((l, i) => [
      '-map', `${i + 1}:a`, '-c:a', 'aac', '-ac', '2', '-metadata:s:a:0', `language=${l.lang}`,
      ...fmp4(`${base}/ingest/live/${l.name}`, 190000),
    ]),
  ];
  return spawnTracked('ffmpeg', 'ffmpeg', args, { stopSignal: 'SIGINT' });
}

/**
 * In the page: unmutes the video and routes its sound through an analyser, so that
 * `window.__tone()` tells the dominant frequency (Hz) of what plays now, or null in silence.
 */
function listenInPage() {
  const video = window.__video;
  video.muted = false;
  const ctx = new AudioContext();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 4096;
  ctx.createMediaElementSource(video).connect(analyser);
  analyser.connect(ctx.destination);
  const bins = new Float32Array(analyser.frequencyBinCount);
  window.__tone = () => {
    analyser.getFloatFrequencyData(bins);
    let best = 0;
    for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
    return bins[best] > -80 ? (best * ctx.sampleRate) / analyser.fftSize : null;
  };
  return ctx.resume().then(() => ctx.state);
}

/** Media sequence number → EXT-X-PROGRAM-DATE-TIME (ms) of every complete segment listed. */
function segmentDates(text) {
  const dates = new Map();
  let msn = Number(text.match(/#EXT-X-MEDIA-SEQUENCE:(\d+)/)[1]);
  let date = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) date = Date.parse(line.slice(25));
    else if (/^s\d+\.mp4$/.test(line)) dates.set(msn++, date);
  }
  return dates;
}

test('audio renditions: master.m3u8 lists both languages and hls.js switches between them', { timeout: 150_000 }, async () => {
  const server = await startServer();
  const stops = [server.stop];
  try {
    const encoder = startEncoder(server.base);
    stops.unshift(encoder.stop);
    for (const name of ['video', ...LANGUAGES.map((l) => l.name)]) await waitForSegment(server.base, `live/${name}`);
    const master = await fetchText(`${server.base}/live/master.m3u8`);
    assert.equal((master.match(/#EXT-X-STREAM-INF:/g) || []).length, 1, master);
    assert.match(master, /#EXT-X-STREAM-INF:[^\n]*CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2"[^\n]*AUDIO="audio"\nvideo\/index\.m3u8\n/, master);
    for (const l of LANGUAGES) {
      assert.ok(master.includes(`NAME="${l.name}",LANGUAGE="${l.lang}"`), master);
    }
    // Both playlist parsers of scenario 9 read the renditions as the origin means them.
    HLS.setOptions({ strictMode: true });
    const strict = HLS.parse(master);
    const audio = strict.variants[0].audio.map((r) => [r.groupId, r.name, r.language, r.isDefault, r.channels, r.uri]);
    assert.deepEqual(audio, LANGUAGES.map((l, i) => ['audio', l.name, l.lang, i === 0, '2', `${l.name}/index.m3u8`]), master);
    const parser = new Parser();
    const warnings = [];
    parser.on('warn', (w) => warnings.push(w.message));
    parser.push(master);
    parser.end();
    assert.deepEqual(warnings, [], master);
    assert.deepEqual(Object.keys(parser.manifest.mediaGroups.AUDIO.audio), LANGUAGES.map((l) => l.name), master);

    const browser = await launchBrowser();
    stops.unshift(browser.close);
    const page = await openPlayerPage(browser, server.base);
    const switchAt = Math.floor((WARMUP + SECONDS) / 2);
    const tones = [];
    let audioState = null;
    let tracks = null;
    const result = await play(page, `${server.base}/live/master.m3u8`, {
      origin: server.base,
      onSecond: async (i) => {
        if (i === 0) audioState = await page.evaluate(listenInPage);
        tones.push(await page.evaluate(() => window.__tone()));
        if (i === 1) tracks = await page.evaluate(() => window.__hls.audioTracks.map((t) => ({ lang: t.lang, name: t.name, default: t.default })));
        // Halfway through, the viewer picks the other language.
        if (i === switchAt) await page.evaluate(() => (window.__hls.audioTrack = 1));
      },
    });
    const near = (hz, want) => hz !== null && Math.abs(hz - want) < 20;
    const before = tones.slice(3, switchAt);
    const after = tones.slice(switchAt + 4);
    report({
      ...playbackReport('audio_renditions', result),
      audio_context: audioState,
      audio_tracks: tracks,
      tones_hz: tones.map((t) => (t === null ? null : Math.round(t))),
    });
    assertPlayedWell(assert, result);
    assert.deepEqual(tracks?.map((t) => [t.lang, t.default]), [['eng', true], ['fra', false]], 'the audio tracks hls.js parsed');
    // English (440 Hz) before the switch, French (880 Hz) a few seconds after it.
    assert.ok(before.length > 0 && before.every((t) => near(t, 440)), `tones before the switch: ${before}`);
    assert.ok(after.length > 0 && after.every((t) => near(t, 880)), `tones after the switch: ${after}`);
    // Each language's playlist: parts within PART-TARGET, segments dated as the video's (the
    // same media sequence number starts within a part of the same date, docs/conformance.md R26).
    const video = await fetchText(`${server.base}/live/video/index.m3u8`);
    for (const l of LANGUAGES) {
      const text = await fetchText(`${server.base}/live/${l.name}/index.m3u8`);
      const durations = [...text.matchAll(/#EXT-X-PART:DURATION=([\d.]+)/g)].map((m) => Number(m[1]));
      assert.ok(durations.length > 0 && durations.every((d) => d <= 0.2 && d >= 0.17), `${l.name} parts: ${durations}`);
      const videoDates = segmentDates(video);
      const common = [...segmentDates(text)].filter(([msn]) => videoDates.has(msn));
      assert.ok(common.length > 0, `${l.name} and the video share segments\n${text}\n${video}`);
      for (const [msn, at] of common) {
        assert.ok(Math.abs(at - videoDates.get(msn)) <= 200, `${l.name} segment ${msn} dated ${at - videoDates.get(msn)} ms from the video's`);
      }
    }
    assert.equal(encoder.exitInfo(), null, `ffmpeg stopped: ${encoder.log()}`);
  } finally {
    for (const stop of stops) await stop();
  }
});
