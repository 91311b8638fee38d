// Scenario 5: ffprobe and ffmpeg read the live playlist as a classic (non-LL) HLS client:
// segments only, no parts, no blocking reloads, and the frames decode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServer, waitFor, fetchText, report, requestCounts, countsSince, routeTotal, errorsOf } from '../lib/harness.js';

test('ffprobe reads the live playlist as a non-LL client and ffmpeg decodes its frames', { timeout: 120_000 }, async () => {
  const server = await startServer({ demo: true });
  try {
    const url = `${server.base}/demo/index.m3u8`;
    // Three complete segments: a classic client starts three segments from the end.
    await waitFor('three complete segments', async () => ((await fetchText(url)).match(/#EXTINF/g) || []).length >= 3, 20000);
    const before = await requestCounts(server.base);

    const probe = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name,width,height,sample_rate', '-of', 'json', url],
      { encoding: 'utf8', timeout: 60000, killSignal: 'SIGKILL' });
    assert.equal(probe.status, 0, `ffprobe: ${probe.error?.message || probe.stderr}`);
    const streams = JSON.parse(probe.stdout).streams;
    assert.ok(streams.some((s) => s.codec_name === 'h264' && s.width === 640 && s.height === 360), probe.stdout);
    assert.ok(streams.some((s) => s.codec_name === 'aac' && s.sample_rate === '48000'), probe.stdout);

    // Decode 3 s of video and audio through the playlist; framemd5 lists every decoded frame.
    const decode = spawnSync('ffmpeg', ['-v', 'error', '-i', url, '-t', '3', '-map', '0:v:0', '-map', '0:a:0', '-f', 'framemd5', '-'],
      { encoding: 'utf8', timeout: 60000, killSignal: 'SIGKILL', maxBuffer: 16 << 20 });
    assert.equal(decode.status, 0, `ffmpeg: ${decode.error?.message || decode.stderr}`);
    assert.equal(decode.stderr, '', 'ffmpeg reports no decoding error');
    const frames = decode.stdout.split('\n').filter((l) => l && !l.startsWith('#'));
    const video = frames.filter((l) => l.startsWith('0,')).length;
    const audio = frames.filter((l) => l.startsWith('1,')).length;

    const seen = countsSince(before, await requestCounts(server.base));
    const requests = Object.fromEntries(['playlist', 'blocking_playlist', 'segment', 'part', 'init'].map((r) => [r, routeTotal(seen, r)]));
    report({ bench: 'e2e/ffmpeg_non_ll', client: 'ffprobe+ffmpeg', video_frames: video, audio_frames: audio, requests });

    assert.ok(video >= 85, `decoded ${video} video frames of 3 s at 30 fps`);
    assert.ok(audio >= 130, `decoded ${audio} audio frames of 3 s at 48 kHz`);
    assert.ok(requests.segment >= 2, `segments fetched: ${JSON.stringify(requests)}`);
    assert.equal(requests.part, 0, 'a non-LL client fetches no part');
    assert.equal(requests.blocking_playlist, 0, 'a non-LL client makes no blocking reload');
    assert.deepEqual(errorsOf(seen), {}, 'every request succeeded');
  } finally {
    await server.stop();
  }
});
