#!/usr/bin/env bash
# What stream capacity costs in memory, idle and live. NOT run by CI (about 3 minutes).
#
# 1. Idle: the release origin with `--num-playlists N` for N in 10, 100, 1000 and 4096 (the
#    most it takes), no stream live: one JSON line each with its VmRSS and RssAnon (kB, from
#    /proc/PID/status). Capacity no stream has used should cost (almost) nothing.
# 2. Live: the origin with `--num-playlists 1000` takes one stream pushed by ffmpeg (testsrc2
#    and a sine, x264 at a constant KBPS kbit/s, a key frame every second, 200 ms CMAF parts,
#    PUT /ingest/cap) for SECS seconds. The stream's memory is the growth of VmRSS (parts are
#    in the shared-memory arena, which VmRSS counts) from before the encoder started; the
#    reference is the bytes published during the playlist's window plus one segment (its
#    EXTINF sum plus the last segment's, at the run's measured rate), which §6.2.2 requires
#    to stay available. `ratio` = growth / reference; `anon_growth_bytes` and
#    `shmem_growth_bytes` split the growth into the heap (rings, playlist versions, buffers)
#    and the arena (the parts); `cpu_share_of_one_core` is the origin's CPU time (user +
#    system) over the second half of the run, per second: what ingesting one stream costs.
#
# Usage: scripts/capacity.sh [secs, default 120] [kbps, default 3000]
# Needs: ffmpeg, curl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-120}"
kbps="${2:-3000}"
for tool in ffmpeg curl python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "capacity.sh: needs $tool" >&2; exit 1; }
done
cargo build --release -q -p playlists-server --bin playlists

work="$(mktemp -d)"
origin_pid=""
encoder_pid=""
cleanup() {
  [ -n "$encoder_pid" ] && kill "$encoder_pid" 2>/dev/null || true
  [ -n "$origin_pid" ] && kill "$origin_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

status() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$origin_pid/status"; }
start_origin() { # num_playlists → sets origin_pid and base
  local port
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  base="http://127.0.0.1:$port"
  target/release/playlists --listen "127.0.0.1:$port" --num-playlists "$1" \
    >"$work/origin.log" 2>&1 &
  origin_pid=$!
  for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done
  curl -sf "$base/healthz" >/dev/null || { echo "capacity.sh: the origin did not start" >&2; cat "$work/origin.log" >&2; exit 1; }
  sleep 1 # let the event loops settle
}
stop_origin() { kill "$origin_pid"; wait "$origin_pid" 2>/dev/null || true; origin_pid=""; }

for n in ${IDLE_SIZES:-10 100 1000 4096}; do
  start_origin "$n"
  printf '{"bench":"capacity","kind":"idle","num_playlists":%d,"vm_rss_kb":%d,"rss_anon_kb":%d}\n' \
    "$n" "$(status VmRSS)" "$(status RssAnon)"
  stop_origin
done

start_origin 1000
idle_kb="$(status VmRSS)"
idle_anon_kb="$(status RssAnon)"
idle_shmem_kb="$(status RssShmem)"
ffmpeg -nostdin -loglevel error -re -f lavfi -i testsrc2=size=640x360:rate=30 \
  -f lavfi -i sine=frequency=440:sample_rate=48000 \
  -c:v libx264 -preset ultrafast -tune zerolatency -b:v "${kbps}k" -maxrate "${kbps}k" \
  -bufsize "${kbps}k" -x264-params nal-hrd=cbr -pix_fmt yuv420p -g 30 -keyint_min 30 \
  -sc_threshold 0 -c:a aac -f mp4 \
  -movflags cmaf+empty_moov+default_base_moof+frag_keyframe+skip_trailer \
  -frag_duration 200000 -method PUT "$base/ingest/cap" \
  >"$work/encoder.log" 2>&1 &
encoder_pid=$!
metric() { awk -v m="$1" '$1 == m { print $2; found = 1 } END { if (!found) print 0 }' "$work/metrics"; }
published() { curl -sf "$base/metrics" >"$work/metrics"; metric 'playlists_stream_bytes_published_total{stream="cap"}'; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$origin_pid/stat"; } # utime + stime
half=$((secs / 2))
sleep "$half"
p_half="$(published)"
t_half="$(cpu_ticks)"
sleep $((secs - half))
t_end="$(cpu_ticks)"
kill -0 "$encoder_pid" 2>/dev/null || { echo "capacity.sh: the encoder exited" >&2; cat "$work/encoder.log" >&2; exit 1; }
p_end="$(published)"
live_kb="$(status VmRSS)"
live_anon_kb="$(status RssAnon)"
live_shmem_kb="$(status RssShmem)"
curl -sf "$base/cap/index.m3u8" >"$work/playlist"
python3 - "$work/playlist" "$idle_kb" "$live_kb" "$p_half" "$p_end" "$((secs - half))" "$kbps" "$secs" \
  $((live_anon_kb - idle_anon_kb)) $((live_shmem_kb - idle_shmem_kb)) \
  "$(( (t_end - t_half) * 1000 / $(getconf CLK_TCK) ))" <<'PY'
import json, sys
extinf = [float(l.strip().split(":")[1].rstrip(",")) for l in open(sys.argv[1]) if l.startswith("#EXTINF:")]
idle_kb, live_kb, p_half, p_end, dt, kbps, secs, anon_kb, shmem_kb, cpu_ms = (int(float(a)) for a in sys.argv[2:])
window_secs = sum(extinf) + (extinf[-1] if extinf else 0)
rate = (p_end - p_half) / dt
reference = rate * window_secs
growth = (live_kb - idle_kb) * 1024
print(json.dumps({
    "bench": "capacity", "kind": "live", "num_playlists": 1000, "secs": secs, "kbps": kbps,
    "idle_vm_rss_kb": idle_kb, "live_vm_rss_kb": live_kb,
    "growth_bytes": growth,
    "anon_growth_bytes": anon_kb * 1024, "shmem_growth_bytes": shmem_kb * 1024,
    "window_plus_segment_secs": round(window_secs, 1),
    "window_plus_segment_bytes": round(reference),
    "ratio": round(growth / reference, 3) if reference else None,
    "overhead_bytes": round(growth - reference),
    "cpu_share_of_one_core": round(cpu_ms / 1000 / dt, 4),
}))
PY
