// Debian's nginx as the HTTP cache tier of deploy/nginx/playlists.conf, on a free loopback
// port, in a temporary prefix (config, cache, temp files, logs) removed when it stops.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repo, freePort, waitFor, fetchWithin } from './harness.js';
import { spawnTracked, makeTempDir, removeTempDir } from './procs.js';

/** The deployment file the tier is made from. */
export const deployConf = join(repo, 'deploy', 'nginx', 'playlists.conf');
/** The upstream that shards streams across origins, in place of deployConf's own. */
export const shardsConf = join(repo, 'deploy', 'nginx', 'shards.conf');

/** Counts the matches of `re` in `text`, which must be exactly one. */
function one(text, re, file) {
  const n = (text.match(re) || []).length;
  if (n !== 1) throw new Error(`${file}: expected one match of ${re}, found ${n}`);
}

/**
 * deploy/nginx/playlists.conf with its upstream block replaced by shards.conf's blocks, as
 * shards.conf says to do, and shards.conf's example origins replaced by `ports`.
 */
export function shardedConf(text, shards, ports) {
  const example = /(\n\s*server\s+127\.0\.0\.1:\d+;)+/g;
  one(shards, example, shardsConf);
  const servers = ports.map((p) => `\n    server 127.0.0.1:${p};`).join('');
  const upstream = /upstream playlists_origin \{[^}]*\}/g;
  one(text, upstream, deployConf);
  return text.replace(upstream, shards.replace(example, servers));
}

/**
 * The deployment file with only its three machine-specific values changed: the cache
 * directory, the origin's address and the listen address. Each must be found exactly once,
 * so a change to the deployment file that this derivation would silently miss fails here.
 * With `backupPort`, a second origin is added as the guide says: a `backup` server line.
 */
export function deriveConf(text, { cacheDir, originPort, listenPort, backupPort, shardPorts }) {
  const backup = backupPort ? `\n    server 127.0.0.1:${backupPort} backup;` : '';
  const edits = [
    [/proxy_cache_path\s+\/var\/cache\/nginx\/playlists\s/g, `proxy_cache_path ${cacheDir} `],
    [/listen\s+8081;/g, `listen 127.0.0.1:${listenPort};`],
  ];
  let out = text;
  if (shardPorts) {
    out = shardedConf(out, readFileSync(shardsConf, 'utf8'), shardPorts);
  } else {
    edits.push([/server\s+127\.0\.0\.1:8080;/g, `server 127.0.0.1:${originPort};${backup}`]);
  }
  for (const [re, replacement] of edits) {
    one(out, re, deployConf);
    out = out.replace(re, replacement);
  }
  return out;
}

/**
 * Starts nginx in front of the origin on `originPort` (and `backupPort`, a second origin it
 * fails over to); resolves once /healthz answers through it. The access log records each
 * request's cache status and the origin that answered it, for the test to read.
 */
export async function startNginx(originPort, { backupPort, shardPorts } = {}) {
  const prefix = makeTempDir('playlists-e2e-nginx-');
  // Workers drop root to nginx's default user, which must reach the cache and temp dirs.
  chmodSync(prefix, 0o755);
  const dirs = {};
  for (const d of ['cache', 'client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) {
    dirs[d] = join(prefix, d);
    mkdirSync(dirs[d]);
    chmodSync(dirs[d], 0o777);
  }
  const port = await freePort();
  const server = deriveConf(readFileSync(deployConf, 'utf8'), { cacheDir: dirs.cache, originPort, listenPort: port, backupPort, shardPorts });
  writeFileSync(join(prefix, 'playlists.conf'), server);
  const accessLog = join(prefix, 'access.log');
  writeFileSync(join(prefix, 'nginx.conf'), `# Made by e2e/lib/nginx.js for one test run.
daemon off;
worker_processes 1;
pid ${join(prefix, 'nginx.pid')};
error_log stderr warn;
events { worker_connections 1024; }
http {
    log_format e2e '$status $upstream_cache_status $request_time "$request" "$upstream_addr"';
    access_log ${accessLog} e2e;
    client_body_temp_path ${dirs.client_body};
    proxy_temp_path ${dirs.proxy};
    fastcgi_temp_path ${dirs.fastcgi};
    uwsgi_temp_path ${dirs.uwsgi};
    scgi_temp_path ${dirs.scgi};
    types { application/vnd.apple.mpegurl m3u8; video/mp4 mp4; }
    include ${join(prefix, 'playlists.conf')};
}
`);
  const nginxBin = process.env.NGINX || '/usr/sbin/nginx';
  // -e: the error log before the config is read (else nginx opens /var/log/nginx first).
  const proc = spawnTracked('nginx', nginxBin, ['-e', 'stderr', '-p', prefix, '-c', join(prefix, 'nginx.conf')], { stopSignal: 'SIGTERM' });
  const base = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await proc.stop();
    removeTempDir(prefix);
  };
  try {
    await waitFor('nginx to proxy /healthz', async () => {
      if (proc.exitInfo()) throw new Error(`nginx exited ${JSON.stringify(proc.exitInfo())}: ${proc.log()}`);
      return (await fetchWithin(`${base}/healthz`, 1000)).ok;
    });
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    base,
    port,
    log: proc.log,
    /**
     * The access log: one `{ status, cache, time, request, upstream }` per answered request;
     * `upstream` lists the origins tried (`-` for a cache hit).
     */
    accessLog() {
      return readFileSync(accessLog, 'utf8').split('\n').filter(Boolean).map((line) => {
        const m = /^(\d+) (\S+) (\S+) "(.*)" "(.*)"$/.exec(line);
        return m ? { status: Number(m[1]), cache: m[2], time: Number(m[3]), request: m[4], upstream: m[5] } : { raw: line };
      });
    },
    stop,
  };
}
