#!/usr/bin/env bash
# HTTP benchmarks of the origin against Debian's nginx serving the same bytes from files, on
# the same machine, in the same run. Prints one JSON object per line:
#   part_get       30 KB part, 64 connections, HTTP/1.1 keep-alive (wrk); also against a second
#                  origin with signed playback (--playback-secret, the request carrying its
#                  ?token=), "impl":"signed": the cost of checking a token, as signed_ratio
#   playlist_gzip  media playlist with Accept-Encoding: gzip, 64 connections (nginx: gzip_static
#                  serving the same pre-compressed bytes)
#   blocking_fanout  10,000 held _HLS_msn/_HLS_part requests over HTTP/1.1, one publish:
#                  wake-to-response p50/p99/max and the origin's RSS per held request
#
# The wrk benches run in two layouts, each server alike:
#   "layout":"shared"  server on every core (origin: one event loop per core; nginx: one
#                      worker process per core), wrk -t2 on the same cores;
#   "layout":"1core"   server on CPU 0 (one event loop; one nginx worker), wrk -t1 on
#                      CPU 1: the server's own cost per request, without the load generator
#                      competing for its core (much less noisy on a shared machine).
# The pairs run ROUNDS times alternating (origin, nginx, origin, …) so that load from other
# processes hits both alike; a `summary` line per bench and layout gives the median req/s of
# each and their ratio. The fan-out runs FANOUT_RUNS times (default 3) and ends with a summary.
#
# PARTS says where the origin keeps its parts:
#   file (default)  its zero-copy arena is an unlinked file in the directory nginx serves from
#                   (`--part-dir`): both servers send from the page cache of the same filesystem;
#   memory          the arena is shared memory (a memfd), the server's default;
#   heap            parts on the heap, copied into sockets (the server's `--zero-copy false`).
# ORIGIN_ARGS passes extra flags to the origin.
#
# Needs: wrk, nginx, python3, taskset, and 2 CPUs (apt-get install -y wrk nginx). Not run by CI.
# Usage: scripts/bench-http.sh [seconds per wrk run, default 5] [rounds, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-5}"
rounds="${2:-3}"
fanout_runs="${FANOUT_RUNS:-3}"
read -r -a origin_args <<<"${ORIGIN_ARGS:-}"
parts="${PARTS:-file}"
for tool in wrk nginx taskset; do
  command -v "$tool" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin"
  command -v "$tool" >/dev/null 2>&1 || { echo "bench-http.sh: needs $tool (apt-get install -y wrk nginx)" >&2; exit 1; }
done

cargo build --release -q -p playlists-server --example bench_origin --example fanout
bin=target/release/examples

work="$(mktemp -d)"
case "$parts" in
  file) mkdir -p "$work/parts"; origin_args+=(--part-dir "$work/parts") ;;
  memory) ;;
  heap) origin_args+=(--heap-parts) ;;
  *) echo "bench-http.sh: PARTS is file, memory or heap" >&2; exit 1 ;;
esac
origin_pid=""
signed_pid=""
nginx_pid=""
stop_servers() {
  [ -n "$nginx_pid" ] && { kill "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; }
  nginx_pid=""
  exec 3>&- 2>/dev/null || true
  exec 4>&- 2>/dev/null || true
  [ -n "$origin_pid" ] && { kill "$origin_pid" 2>/dev/null || true; wait "$origin_pid" 2>/dev/null || true; }
  [ -n "$signed_pid" ] && { kill "$signed_pid" 2>/dev/null || true; wait "$signed_pid" 2>/dev/null || true; }
  origin_pid=""
  signed_pid=""
}
cleanup() {
  stop_servers
  rm -rf "$work"
}
trap cleanup EXIT

nginx_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

# start_servers CPUS WORKERS: the origin (its stdin open on fd 3) with its bytes dumped as
# files, and nginx serving those files, both on CPUS with WORKERS workers.
start_servers() {
  local cpus="$1" workers="$2"
  rm -rf "$work/www" "$work/ctl"
  mkfifo "$work/ctl"
  taskset -c "$cpus" "$bin/bench_origin" --dump-dir "$work/www/bench" --parts 40 --part-bytes 30000 \
    --threads "$workers" "${origin_args[@]}" <"$work/ctl" >"$work/origin.out" 2>"$work/origin.err" &
  origin_pid=$!
  exec 3>"$work/ctl"
  for _ in $(seq 100); do grep -q '^listening ' "$work/origin.out" 2>/dev/null && break; sleep 0.1; done
  origin_addr="$(sed -n 's/^listening //p' "$work/origin.out")"
  [ -n "$origin_addr" ] || { echo "bench-http.sh: the origin did not start" >&2; cat "$work/origin.err" >&2; exit 1; }

  # The same origin with signed playback (its stdin open on fd 4).
  rm -f "$work/ctl-signed"
  mkfifo "$work/ctl-signed"
  taskset -c "$cpus" "$bin/bench_origin" --parts 40 --part-bytes 30000 --threads "$workers" \
    --playback-secret "bench secret" "${origin_args[@]}" <"$work/ctl-signed" >"$work/signed.out" 2>"$work/signed.err" &
  signed_pid=$!
  exec 4>"$work/ctl-signed"
  for _ in $(seq 100); do grep -q '^token ' "$work/signed.out" 2>/dev/null && break; sleep 0.1; done
  signed_addr="$(sed -n 's/^listening //p' "$work/signed.out")"
  signed_token="$(sed -n 's/^token //p' "$work/signed.out")"
  [ -n "$signed_token" ] || { echo "bench-http.sh: the signed origin did not start" >&2; cat "$work/signed.err" >&2; exit 1; }

  # nginx: no logging, sendfile, gzip_static for the playlist.
  mkdir -p "$work/nginx"
  cat >"$work/nginx.conf" <<CONF
worker_processes $workers;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 1000000; keepalive_timeout 60s;
  open_file_cache max=1000 inactive=60s;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  types { application/vnd.apple.mpegurl m3u8; video/mp4 mp4; }
  server {
    listen 127.0.0.1:$nginx_port;
    root $work/www;
    gzip_static on;
    add_header Access-Control-Allow-Origin *;
  }
}
CONF
  # nginx workers run as an unprivileged user when started by root: let them read the files.
  chmod -R a+rX "$work"
  taskset -c "$cpus" nginx -c "$work/nginx.conf" -p "$work/nginx" -g 'daemon off;' &
  nginx_pid=$!
  for _ in $(seq 50); do (exec 9<>"/dev/tcp/127.0.0.1/$nginx_port") 2>/dev/null && break; sleep 0.1; done

  # The same bytes from all three; the signed origin refuses the request without its token.
  cmp <(curl -s "http://$origin_addr/$part") "$work/www/$part" \
    || { echo "bench-http.sh: the origin and nginx serve different part bytes" >&2; exit 1; }
  cmp <(curl -s "http://$signed_addr/$part?token=$signed_token") "$work/www/$part" \
    || { echo "bench-http.sh: the signed origin serves different part bytes" >&2; exit 1; }
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$signed_addr/$part")" = 403 ] \
    || { echo "bench-http.sh: the signed origin serves a part without a token" >&2; exit 1; }
  cmp <(curl -s -H "Accept-Encoding: gzip" "http://127.0.0.1:$nginx_port/bench/index.m3u8") \
      <(curl -s -H 'Accept-Encoding: gzip' "http://$origin_addr/bench/index.m3u8") \
    || { echo "bench-http.sh: the gzip playlists differ" >&2; cat "$work/nginx/error.log" >&2; exit 1; }
}

cat >"$work/json.lua" <<'LUA'
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    '{"bench":"%s","impl":"%s","layout":"%s","req_per_s":%.0f,"p50_ms":%.3f,"p99_ms":%.3f,"connections":64,"bytes_per_response":%.0f,"errors":%d,"secs":%.1f}\n',
    os.getenv("BENCH"), os.getenv("IMPL"), os.getenv("LAYOUT"), summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.bytes / math.max(summary.requests, 1), errors, summary.duration / 1e6))
end
LUA

run_wrk() { # layout wrk-cpus wrk-threads bench impl url [header]
  local extra=()
  [ $# -ge 7 ] && extra=(-H "$7")
  LAYOUT="$1" BENCH="$4" IMPL="$5" taskset -c "$2" wrk -t"$3" -c64 -d"${secs}s" --latency \
    -s "$work/json.lua" "${extra[@]}" "$6" | grep '^{'
}

part=bench/p10.mp4
: >"$work/results"
# layout, server CPUs, server workers, wrk CPUs, wrk threads
for layout in "shared 0-1 2 0-1 2" "1core 0 1 1 1"; do
  read -r name server_cpus workers wrk_cpus wrk_threads <<<"$layout"
  start_servers "$server_cpus" "$workers"
  for _ in $(seq "$rounds"); do
    for impl in playlists signed nginx; do
      case "$impl" in
        playlists) url="http://$origin_addr/$part" ;;
        signed) url="http://$signed_addr/$part?token=$signed_token" ;;
        nginx) url="http://127.0.0.1:$nginx_port/$part" ;;
      esac
      run_wrk "$name" "$wrk_cpus" "$wrk_threads" part_get "$impl" "$url" | tee -a "$work/results"
    done
    for impl in playlists nginx; do
      if [ "$impl" = playlists ]; then base="http://$origin_addr"; else base="http://127.0.0.1:$nginx_port"; fi
      run_wrk "$name" "$wrk_cpus" "$wrk_threads" playlist_gzip "$impl" "$base/bench/index.m3u8" \
        'Accept-Encoding: gzip' | tee -a "$work/results"
    done
  done
  stop_servers
done
PARTS="$parts" python3 - "$work/results" <<'PY'
import json, os, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
for key in dict.fromkeys((r["bench"], r["layout"]) for r in runs):
    sel = [r for r in runs if (r["bench"], r["layout"]) == key]
    impls = list(dict.fromkeys(r["impl"] for r in sel))
    med = {i: statistics.median(r["req_per_s"] for r in sel if r["impl"] == i) for i in impls}
    summary = {"bench": key[0], "impl": "summary", "layout": key[1], "rounds": len(sel) // len(impls), "parts": os.environ["PARTS"],
               "playlists_req_per_s": med["playlists"], "nginx_req_per_s": med["nginx"],
               "ratio": round(med["playlists"] / med["nginx"], 3)}
    if "signed" in med:
        # Signed against unsigned, round by round (each pair ran back to back).
        pairs = zip((r for r in sel if r["impl"] == "playlists"), (r for r in sel if r["impl"] == "signed"))
        summary.update({"signed_req_per_s": med["signed"], "signed_ratio": round(med["signed"] / med["playlists"], 3),
                        "signed_ratio_per_round": [round(s["req_per_s"] / p["req_per_s"], 3) for p, s in pairs]})
    print(json.dumps(summary))
PY

# The fan-out starts its own origin (it needs the origin's stdin to publish).
: >"$work/fanout"
for _ in $(seq "$fanout_runs"); do
  "$bin/fanout" --origin-bin "$bin/bench_origin" --waiters 10000 2>/dev/null | tee -a "$work/fanout"
done
python3 - "$work/fanout" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
p99 = sorted(r["p99_ms"] for r in runs)
print(json.dumps({"bench": "blocking_fanout", "impl": "summary", "runs": len(runs),
                  "all_answered": all(r["answered"] == r["waiters"] for r in runs),
                  "runs_all_within_100ms": sum(r["within_100ms"] == r["waiters"] for r in runs),
                  "median_p99_ms": statistics.median(p99), "worst_p99_ms": p99[-1],
                  "median_rss_per_waiter_bytes": statistics.median(r["rss_per_waiter_bytes"] for r in runs)}))
PY
