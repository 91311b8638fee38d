#!/usr/bin/env bash
# How much part memory a live stream holds, and how much disk I/O `--part-dir` costs. NOT run
# by CI (the default run takes 4 minutes).
#
# The release origin, on its default sizes and a free loopback port, keeps its part arena in
# an unlinked file in a temporary directory (`--part-dir`) and takes one stream pushed by
# ffmpeg: testsrc2 and a sine, x264 at a constant KBPS kbit/s, a keyframe every second,
# 200 ms CMAF parts (PUT /ingest/ret). Every 10 s it prints a JSON line with
#   held_bytes     arena blocks in use × block size: the part bytes the origin holds (an upper
#                  bound: a block is freed when the last part in it is dropped);
#   published      part bytes published so far;
#   write_bytes / cancelled_write_bytes  of the origin, from /proc/PID/io: bytes it dirtied in
#                  the page cache, and dirty bytes dropped before writeback (hole punching).
# The summary compares what is held at the end with a reference from the same run: the bytes
# published during the last window + one segment (the listed segments' EXTINF sum, read from
# the playlist, plus the last segment's), which is what §6.2.2 requires to stay available. It
# also gives what the stream's ring could hold (max-segments × max-parts-per-segment parts of
# the run's mean size), which is what an origin that frees parts only when the ring wraps
# would hold once it has filled.
#
# Usage: scripts/retention.sh [secs, default 240] [kbps, default 3000]
# Needs: ffmpeg, curl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-240}"
kbps="${2:-3000}"
for tool in ffmpeg curl python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "retention.sh: needs $tool" >&2; exit 1; }
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

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir -p "$work/parts"
target/release/playlists --listen "127.0.0.1:$port" --part-dir "$work/parts" \
  >"$work/origin.log" 2>&1 &
origin_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { echo "retention.sh: the origin did not start" >&2; cat "$work/origin.log" >&2; exit 1; }

ffmpeg -nostdin -loglevel error -re -f lavfi -i testsrc2=size=640x360:rate=30 \
  -f lavfi -i sine=frequency=440:sample_rate=48000 \
  -c:v libx264 -preset ultrafast -tune zerolatency -b:v "${kbps}k" -maxrate "${kbps}k" \
  -bufsize "${kbps}k" -x264-params nal-hrd=cbr -pix_fmt yuv420p -g 30 -keyint_min 30 \
  -sc_threshold 0 -c:a aac -f mp4 \
  -movflags cmaf+empty_moov+default_base_moof+frag_keyframe+skip_trailer \
  -frag_duration 200000 -method PUT "http://127.0.0.1:$port/ingest/ret" \
  >"$work/encoder.log" 2>&1 &
encoder_pid=$!

metric() { # name[{labels}] → value (0 when absent)
  awk -v m="$1" '$1 == m { print $2; found = 1 } END { if (!found) print 0 }' "$work/metrics"
}
io() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$origin_pid/io"; }

: >"$work/samples"
for t in $(seq 10 10 "$secs"); do
  sleep 10
  kill -0 "$encoder_pid" 2>/dev/null || { echo "retention.sh: the encoder exited" >&2; cat "$work/encoder.log" >&2; exit 1; }
  curl -sf "http://127.0.0.1:$port/metrics" >"$work/metrics"
  blocks="$(metric playlists_part_arena_blocks)"
  block_bytes="$(metric playlists_part_arena_block_bytes)"
  printf '{"bench":"retention","kind":"sample","t_secs":%d,"held_bytes":%d,"published":%d,"parts":%d,"write_bytes":%d,"cancelled_write_bytes":%d}\n' \
    "$t" $((blocks * block_bytes)) "$(metric 'playlists_stream_bytes_published_total{stream="ret"}')" \
    "$(metric 'playlists_stream_parts_published_total{stream="ret"}')" "$(io write_bytes)" \
    "$(io cancelled_write_bytes)" | tee -a "$work/samples"
done
curl -sf "http://127.0.0.1:$port/ret/index.m3u8" >"$work/playlist"
max_segments="$(target/release/playlists --help | awk '/--max-segments/ { s = 1 } s && /default:/ { gsub(/[^0-9]/, ""); print; exit }')"
per_segment="$(target/release/playlists --help | awk '/--max-parts-per-segment/ { s = 1 } s && /default:/ { gsub(/[^0-9]/, ""); print; exit }')"

python3 - "$work/samples" "$work/playlist" "$((max_segments * per_segment))" "$kbps" <<'PY'
import json, sys
samples = [json.loads(l) for l in open(sys.argv[1])]
extinf = [float(l.strip().split(":")[1].rstrip(",")) for l in open(sys.argv[2]) if l.startswith("#EXTINF:")]
ring_parts, kbps = int(sys.argv[3]), int(sys.argv[4])
window = sum(extinf) + (extinf[-1] if extinf else 0)
last, first = samples[-1], samples[len(samples) // 2]
rate = (last["published"] - first["published"]) / (last["t_secs"] - first["t_secs"])
window_bytes = rate * window
held_after_window = [s["held_bytes"] for s in samples if s["t_secs"] > window + 20]
print(json.dumps({
    "bench": "retention", "kind": "summary", "secs": last["t_secs"], "kbps": kbps,
    "window_plus_segment_secs": round(window, 1),
    "held_bytes": last["held_bytes"],
    "held_max_after_window_bytes": max(held_after_window, default=None),
    "window_bytes": round(window_bytes),
    "held_over_window": round(last["held_bytes"] / window_bytes, 3) if window_bytes else None,
    "ring_parts": ring_parts,
    "ring_bytes_at_mean_part": round(ring_parts * last["published"] / max(last["parts"], 1)),
    "written_over_published": round(last["write_bytes"] / max(last["published"], 1), 3),
    "cancelled_write_bytes": last["cancelled_write_bytes"],
}))
PY
