// One live encoder feeding several origins the same bytes: ffmpeg muxes once to a pipe, and
// every chunk it writes goes on to each origin's ingest as one chunked PUT body. Origins fed
// this way serve byte-identical playlists and media (deploy/nginx/README.md, two origins).
//
// Not ffmpeg's tee muxer: each of its outputs muxes on its own and reads the wall clock for
// its own `prft` boxes, so the outputs differ in those bytes (seen: three fragments in 6 s).
import { request } from 'node:http';
import { spawnTracked } from './procs.js';

/**
 * ffmpeg as in harness.js's startEncoder (test pattern + tone, x264 zerolatency, 1 s GOP,
 * 200 ms CMAF fragments), plus `-write_prft wallclock`: a producer reference time before every
 * fragment, from which each origin dates the stream (EXT-X-PROGRAM-DATE-TIME) the same way.
 * Returns the encoder (stop() ends it and the uploads) and, per URL, the upload's state.
 */
export function startRelayedEncoder(urls) {
  const uploads = urls.map((url) => {
    const u = { url, bytes: 0, error: null, status: null };
    u.req = request(url, { method: 'PUT', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
      u.status = res.statusCode;
      res.resume();
    });
    // An origin that goes away (the failover scenario stops one) ends its upload only.
    u.req.on('error', (e) => (u.error = e.message));
    return u;
  });
  const args = [
    '-hide_banner', '-nostats', '-loglevel', 'error', '-nostdin', '-re',
    '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p',
    '-g', '30', '-keyint_min', '30', '-sc_threshold', '0',
    '-c:a', 'aac', '-write_prft', 'wallclock',
    '-f', 'mp4', '-movflags', 'cmaf+empty_moov+default_base_moof+frag_keyframe+skip_trailer',
    '-frag_duration', '200000', 'pipe:1',
  ];
  const encoder = spawnTracked('ffmpeg', 'ffmpeg', args, {
    stopSignal: 'SIGINT',
    onStdout: (chunk) => {
      for (const u of uploads) {
        if (u.error || u.req.destroyed) continue;
        u.req.write(chunk);
        u.bytes += chunk.length;
      }
    },
  });
  return {
    ...encoder,
    uploads,
    async stop() {
      const info = await encoder.stop();
      for (const u of uploads) if (!u.error) u.req.end();
      return info;
    },
  };
}
