#!/usr/bin/env bash
# Steady-state viewers per origin (docs/scale.md): the largest number of simulated LL-HLS
# players (loadgen, one process) that one origin serves the demo stream to (200 ms parts) with
# 0 errors and a blocking-round p99 ≤ 300 ms. The player count doubles from START until a run
# misses either, then the last good and first bad counts are bisected STEPS times. Each run is
# a fresh origin with its defaults, warmed for 10 s, measured over SECS with the players ramped
# in over 10 s. Prints one JSON object per run and a summary line.
# The load generator runs on the same machine and competes with the origin for its cores: the
# figure is a floor for a box that only serves. Not run by CI.
# Usage: scripts/viewers.sh [secs per run, default 30] [start, default 500] [steps, default 2]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-30}"
start_players="${2:-500}"
steps="${3:-2}"
port="${PORT:-18490}"

cargo build --release -q -p playlists-server --bin playlists --example loadgen
bin=target/release

# One run: prints its JSON line, succeeds when the targets were met.
run() {
  local players="$1" log pid summary
  log="$(mktemp)"
  "$bin/playlists" --listen "127.0.0.1:$port" --demo >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/demo/index.m3u8" 2>/dev/null | grep -q EXTINF && break
    sleep 0.2
  done
  sleep 10
  summary="$("$bin/examples/loadgen" --url "http://127.0.0.1:$port/demo/index.m3u8" \
    --players "$players" --secs "$secs" --report-secs "$secs" --ramp-secs 10 --server-pid "$pid" \
    2>/dev/null | grep '"kind":"summary"')"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$log"
  SUMMARY="$summary" python3 -c '
import json, os, sys
s = json.loads(os.environ["SUMMARY"])
ok = s["errors"] == 0 and s["blocking_p99_ms"] <= 300.0
print(json.dumps({"bench": "viewers", "players": s["players"], "errors": s["errors"],
    "blocking_p50_ms": s["blocking_p50_ms"], "blocking_p99_ms": s["blocking_p99_ms"],
    "fanout_p99_ms": s["fanout_p99_ms"], "lost_parts": s["lost_parts"],
    "origin_cpu_percent": s["origin_cpu_percent"], "rss_bytes": s["rss_bytes"], "ok": ok}))
sys.exit(0 if ok else 1)'
}

good=0
bad=0
players="$start_players"
while run "$players"; do
  good="$players"
  players=$((players * 2))
done
bad="$players"
for _ in $(seq "$steps"); do
  mid=$(((good + bad) / 2))
  [ "$mid" -le "$good" ] && break
  if run "$mid"; then good="$mid"; else bad="$mid"; fi
done
echo "{\"bench\":\"viewers\",\"kind\":\"summary\",\"max_players_meeting_targets\":$good,\"first_missing\":$bad}"
