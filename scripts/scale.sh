#!/usr/bin/env bash
# Many live streams on one origin (docs/scale.md). For each stream count N: a fresh origin
# (the release binary, its defaults, room for N streams), and one loadgen process that pushes N
# synthetic encoders in real time over HTTP ingest (the demo clip: 200 ms parts, ~230 kbit/s)
# and plays each stream with PLAYERS simulated LL-HLS players (0: publishing only). Prints one
# JSON object per N:
#   streams, players, secs, errors, lost_parts, players_active_at_end  the players' view
#   publish_p50_ms / publish_p99_ms  the origin's ingest-to-publish histogram (bucket bounds)
#   origin_cpu_percent               the origin's CPU over the run, % of one core
#   rss_bytes                        the origin's resident memory at the end
#   window_bytes                     what the streams' playlist windows hold: N × the bytes a
#                                    stream pushed per second × the seconds one playlist lists
#                                    (its segments and the open one's parts), read at the end
#   rss_per_window                   rss_bytes / window_bytes
#   targets_met                      0 player errors, publish p99 ≤ 2 ms, CPU ≤ 30 % of a core
#                                    (PLAYERS=0 only: that target is for publishing), RSS ≤ 1.2 ×
#                                    the windows (issue targets; the first N that misses one
#                                    is where the box "breaks")
# The load generator runs on the same machine as the origin and competes with it for the
# cores: say so next to any figure. Needs only the release build. Not run by CI.
# Usage: scripts/scale.sh [secs per run, default 60] [stream counts, default "100 500 1000"]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
counts="${2:-100 500 1000}"
players="${PLAYERS:-1}"
port="${PORT:-18480}"

cargo build --release -q -p playlists-server --bin playlists --example loadgen
bin=target/release

for n in $counts; do
  log="$(mktemp)"
  "$bin/playlists" --listen "127.0.0.1:$port" --num-playlists "$((n + 16))" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  summary="$("$bin/examples/loadgen" --url "http://127.0.0.1:$port/load{n}/index.m3u8" \
    --push "http://127.0.0.1:$port/ingest/load{n}" --streams "$n" --players "$players" \
    --secs "$secs" --report-secs "$secs" --ramp-secs 10 --server-pid "$pid" 2>/dev/null |
    grep '"kind":"summary"')"
  playlist="$(curl -sf "http://127.0.0.1:$port/load0/index.m3u8" || true)"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$log"
  SUMMARY="$summary" PLAYLIST="$playlist" N="$n" PLAYERS="$players" python3 - <<'EOF'
import json, os, re
s = json.loads(os.environ["SUMMARY"])
playlist = os.environ["PLAYLIST"]
n, players = int(os.environ["N"]), int(os.environ["PLAYERS"])
# Seconds one playlist lists: its segments, and the parts of the open one.
listed = sum(float(d) for d in re.findall(r"#EXTINF:([\d.]+)", playlist))
tail = playlist.split("#EXTINF")[-1]
listed += sum(float(d) for d in re.findall(r"#EXT-X-PART:DURATION=([\d.]+)", tail))
secs = s["secs"]
per_stream_rate = s["pushed_bytes"] / n / max(secs, 1e-9)
window = n * per_stream_rate * listed
rss = s["rss_bytes"] or 0
p99 = s.get("publish_p99_ms")
met = (
    s["errors"] == 0
    and p99 is not None and p99 <= 2.0
    and (players > 0 or s["origin_cpu_percent"] <= 30.0)
    and rss <= 1.2 * window
)
print(json.dumps({
    "bench": "scale", "streams": n, "players": s["players"], "secs": secs,
    "errors": s["errors"], "lost_parts": s["lost_parts"],
    "players_active_at_end": s["players_active_at_end"],
    "publish_p50_ms": s.get("publish_p50_ms"), "publish_p99_ms": p99,
    "publish_max_ms": s.get("publish_max_ms"),
    "origin_cpu_percent": s["origin_cpu_percent"], "rss_bytes": rss,
    "window_secs": round(listed, 3), "window_bytes": int(window),
    "rss_per_window": round(rss / window, 3) if window else None,
    "blocking_p99_ms": s["blocking_p99_ms"], "push_skipped_parts": s["push_skipped_parts"],
    "targets_met": met,
}))
EOF
done
