// Scenario 16: a stream published over RTMP, the RTMP issue's command: real ffmpeg sends x264
// with B-frames (`-bf 2`, which the zerolatency tune would turn off) and AAC in FLV to
// `rtmp://…/live/cam1?token=…`; the origin's packager cuts 200 ms CMAF parts. hls.js plays
// `/live/cam1/index.m3u8` in low-latency mode like the other scenarios; ffprobe reads the same
// playlist as a classic client and finds H.264 and AAC starting within a frame of each other;
// then the encoder dies (SIGKILL: no clean end of its connection) and a new one publishes the
// same name a second later, inside the grace period: the playlist goes on (the media sequence
// keeps counting) with an EXT-X-DISCONTINUITY, and the player that kept the page open plays
// on after one stall (1.70–1.85 s measured: the outage, and hls.js seeking over the hole the
// restamped timeline leaves). E2E_RTMP_BF sets the B-frames (`0` for the comparison in
// docs/latency.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  startServer, startRtmpEncoder, freePort, waitForSegment, launchBrowser, report, fetchText, sleep, playlistNumbers } from '../lib/harness.js';
import { openPlayerPage, play, playbackReport, assertPlayedWell, summarize } from '../lib/player.js';

const TOKEN = 'e2e-rtmp-token';
const BF = Number(process.env.E2E_RTMP_BF ?? 2);
/** How long the stream has no encoder between the kill and the new encoder's start. */
const DOWN_MS = 1000;
/** Seconds the page is watched after the kill. */
const AFTER_S = 12;
/** The last seconds of that watch, in which playback must be advancing in real time again. */
const TAIL_S = 4;
/**
 * The RTMP issue's target is a median of 1.2 s behind live with 200 ms parts; measured here
 * 0.89–1.04 s with `-bf 2` and 0.84–0.86 s with `-bf 0` (docs/latency.md). Asserted with the
 * margin a loaded machine takes (up to 0.16 s of drift, docs/latency.md), and reported.
 */
const TARGET_S = 1.2;
const ASSERT_S = 1.5;
/** After the reconnect: one stall at most, this long at most (1.70–1.85 s measured). */
const RECONNECT_STALL_MS = 3000;

const r3 = (x) => (typeof x === 'number' ? Math.round(x * 1000) / 1000 : x);

/**
 * ffprobe's streams of `url`, a live playlist read as a classic client: from its first listed
 * segment (`fromStart`, the stream's start here) or, as ffprobe does by default, three
 * segments from its end.
 */
function probe(url, { fromStart }) {
  const out = spawnSync('ffprobe', [
    '-v', 'error', ...(fromStart ? ['-live_start_index', '0'] : []),
    '-show_entries', 'stream=codec_type,codec_name,width,height,sample_rate,start_time',
    '-of', 'json', url,
  ], { encoding: 'utf8', timeout: 30000, killSignal: 'SIGKILL' });
  assert.equal(out.status, 0, `ffprobe: ${out.error?.message || out.stderr}`);
  const streams = JSON.parse(out.stdout).streams;
  const video = streams.find((s) => s.codec_type === 'video');
  const audio = streams.find((s) => s.codec_type === 'audio');
  assert.ok(video && video.codec_name === 'h264' && video.width === 640 && video.height === 360, JSON.stringify(streams));
  assert.ok(audio && audio.codec_name === 'aac' && audio.sample_rate === '48000', JSON.stringify(streams));
  // Video's start is its first picture's presentation time, audio's its first frame's.
  return { streams, apart: Number(video.start_time) - Number(audio.start_time) };
}

test('an RTMP push (x264 with B-frames, AAC) plays in hls.js in low-latency mode and survives an encoder restart', { timeout: 150_000 }, async () => {
  const rtmpPort = await freePort();
  const server = await startServer({ args: ['--rtmp-listen', `127.0.0.1:${rtmpPort}`, '--ingest-token', TOKEN] });
  const stops = [server.stop];
  const rtmpUrl = `rtmp://127.0.0.1:${rtmpPort}/live/cam1?token=${TOKEN}`;
  const playlist = `${server.base}/live/cam1/index.m3u8`;
  try {
    let encoder = startRtmpEncoder(rtmpUrl, { bf: BF });
    stops.unshift(encoder.stop);
    await waitForSegment(server.base, 'live/cam1').catch((e) => {
      throw new Error(`${e.message}\nffmpeg: ${encoder.log()}\norigin: ${server.log().slice(-4000)}`);
    });
    const browser = await launchBrowser();
    stops.unshift(browser.close);
    const page = await openPlayerPage(browser, server.base);
    const result = await play(page, playlist, { origin: server.base });
    report({ ...playbackReport('rtmp_ingest', result), rtmp_bf: BF, target_s: TARGET_S, target_met: result.latency.median <= TARGET_S });
    assertPlayedWell(assert, result);
    assert.ok(result.latency.median <= ASSERT_S, `${result.latency.median} s behind live (median); the target is ${TARGET_S} s`);
    assert.equal(encoder.exitInfo(), null, `ffmpeg stopped: ${encoder.log()}`);

    // The served stream as a classic client reads it (the page keeps playing meanwhile).
    // At the stream's start both tracks begin within a frame, as in the encoder's own FLV
    // (its AAC priming puts audio 21 ms ahead). A later segment starts with its key frame's
    // decode time: its audio from there, its first picture the key frame's composition offset
    // later (67 ms with two B-frames), which is what the start from the live end shows.
    const start = probe(playlist, { fromStart: true });
    const end = probe(playlist, { fromStart: false });
    report({ bench: 'e2e/rtmp_ingest_ffprobe', rtmp_bf: BF, start_video_minus_audio_s: r3(start.apart), live_end_video_minus_audio_s: r3(end.apart) });
    assert.ok(Math.abs(start.apart) <= 1 / 30 + 1e-3, `audio and video start ${start.apart.toFixed(4)} s apart: ${JSON.stringify(start.streams)}`);

    // The encoder dies and a new one publishes the same name within the grace period.
    const before = playlistNumbers(await fetchText(playlist));
    const t = { kill: Date.now() };
    const killed = await encoder.kill();
    await sleep(Math.max(0, t.kill + DOWN_MS - Date.now()));
    t.restart = Date.now();
    encoder = startRtmpEncoder(rtmpUrl, { bf: BF });
    stops.unshift(encoder.stop);
    const watch = [];
    let after = null;
    for (let i = 1; i <= AFTER_S; i++) {
      await page.waitForTimeout(Math.max(0, t.kill + i * 1000 - Date.now()));
      watch.push(await page.evaluate(() => ({
        at: Date.now(), currentTime: window.__video.currentTime, latency: window.__hls.latency,
        fatal: window.__e2e.fatal,
      })));
      const now = playlistNumbers(await fetchText(playlist));
      // The new run is back once a segment after the discontinuity is complete.
      if (!after && now.discontinuities + now.discontinuity_sequence > before.discontinuities + before.discontinuity_sequence
        && now.last_msn > before.last_msn + 1) {
        after = now;
        t.back = Date.now();
      }
    }
    const state = await page.evaluate(() => window.__e2e);
    const stallsAfter = state.stallLog.filter((s) => s.startedAt + s.ms >= t.kill);
    const tail = watch.slice(-TAIL_S - 1);
    const advanced = tail.at(-1).currentTime - tail[0].currentTime;
    const wall = (tail.at(-1).at - tail[0].at) / 1000;
    report({
      bench: 'e2e/rtmp_ingest_reconnect',
      rtmp_bf: BF,
      killed_exit: killed,
      down_ms: t.restart - t.kill,
      back_after_kill_s: t.back ? r3((t.back - t.kill) / 1000) : null,
      before, after,
      stalls_after_kill: stallsAfter,
      latency_last_s: summarize(tail.map((s) => s.latency)),
      tail_advanced_s: r3(advanced), tail_wall_s: r3(wall),
      fatal: state.fatal,
      errors: state.errors,
    });
    assert.ok(after, `the playlist did not go on with a discontinuity after the new encoder: ${JSON.stringify(playlistNumbers(await fetchText(playlist)))}`
      + `\nffmpeg: ${encoder.log()}\norigin: ${server.log().slice(-3000)}`);
    assert.ok(!after.ended, 'the stream ended instead of continuing');
    assert.ok(after.media_sequence >= before.media_sequence, 'the media sequence went back');
    assert.equal(state.fatal, null, `fatal hls.js error after the reconnect; errors: ${state.errors.join(', ')}`);
    assert.ok(advanced >= 0.9 * wall, `playback is not advancing ${AFTER_S} s after the kill: ${advanced.toFixed(2)} s in ${wall.toFixed(2)} s`);
    assert.ok(stallsAfter.length <= 1 && stallsAfter.every((s) => s.ms <= RECONNECT_STALL_MS), `stalls after the kill: ${JSON.stringify(stallsAfter)}`);
    const back = summarize(tail.map((s) => s.latency));
    assert.ok(back.median !== null && back.median <= ASSERT_S, `${back.median} s behind live ${AFTER_S} s after the kill`);
    assert.equal(encoder.exitInfo(), null, `the new ffmpeg stopped: ${encoder.log()}`);
  } finally {
    for (const stop of stops) await stop();
  }
});
