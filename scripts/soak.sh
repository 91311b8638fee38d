#!/usr/bin/env bash
# Soak under player load (issue 7). NOT run by CI: the default run takes 30 minutes.
#
# The release origin on a free loopback port serves the built-in `demo` stream and a stream
# `cam` pushed by a real encoder (ffmpeg re-fragmenting the demo clip with -c copy into 200 ms
# CMAF parts, PUT /ingest/cam). Two loadgen processes (crates/playlists-server/examples/
# loadgen.rs) play them as LL-HLS players: PLAYERS on `demo`, PLAYERS/10 on `cam`. The encoder
# is SIGKILLed RESTARTS times, spread evenly over the run, and started again after a pause
# shorter than the origin's ingest grace period. The origin's RSS is sampled every 10 s.
#
# Until bbe998e the origin kept the last max-segments × max-parts-per-segment parts of a stream
# (its ring), whatever the playlist window: with the defaults (32 × 128) the ring took ~14 min
# to fill and RSS grew until then, so the soak ran the origin with --max-parts-per-segment 24
# (the ring then fills in ~2.5 min, within the warm-up). The origin now drops a segment's
# parts once the segment is past its availability (about the window plus one segment, 1-2.5
# min), so the warm-up covers it on the defaults too (SOAK_ORIGIN_ARGS=""); the flag stays the
# default so that runs compare with docs/soak.md.
#
# Prints JSON lines: a progress line every 60 s; at the end the loadgen summary of each
# stream, the ingest-to-publish delay of each stream (from /metrics), the RSS at the end of
# the warm-up and at the end, the restarts, and a final {"bench":"soak","pass":…} that checks:
# 0 errors, no lost or duplicated parts and no hole in a listing, MEDIA-SEQUENCE never going
# back, every `cam` player still receiving parts at the end and past the last discontinuity,
# one discontinuity per restart, the encoder never exiting on its own, and the RSS at the end
# within 10 % of the RSS at the end of the warm-up. Exits 1 when a check fails.
#
# Usage: scripts/soak.sh [secs, default 1800] [players, default 500] [restarts, default 20]
# Env:   SOAK_WARMUP_SECS (default: secs/6, at least 180 s, at most secs/2),
#        SOAK_RESTART_PAUSE (default 2 s), SOAK_ORIGIN_ARGS (default --max-parts-per-segment 24),
#        SOAK_KEEP=DIR (copy the origin's log, the loadgen progress lines and the RSS samples
#        there).
# Needs: ffmpeg, curl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-1800}"
players="${2:-500}"
restarts="${3:-20}"
cam_players=$(((players + 9) / 10))
warmup=$((secs / 6 > 180 ? secs / 6 : 180))
[ "$warmup" -le $((secs / 2)) ] || warmup=$((secs / 2))
warmup="${SOAK_WARMUP_SECS:-$warmup}"
read -r -a origin_args <<<"${SOAK_ORIGIN_ARGS---max-parts-per-segment 24}"
pause="${SOAK_RESTART_PAUSE:-2}"
grace=10
for tool in ffmpeg curl python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "soak.sh: needs $tool" >&2; exit 1; }
done
[ "$warmup" -lt "$secs" ] || { echo "soak.sh: the run must be longer than the warm-up ($warmup s)" >&2; exit 1; }

# Each player holds two connections, on both sides of loopback.
need_fds=$((4 * (players + cam_players) + 256))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need_fds" ]; then
  ulimit -n "$need_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi

cargo build --release -q -p playlists-server --bin playlists --example loadgen
origin_bin=target/release/playlists
loadgen_bin=target/release/examples/loadgen
clip=crates/playlists-server/assets/demo.mp4

work="$(mktemp -d)"
origin_pid=""
encoder_pid=""
demo_pid=""
cam_pid=""
cleanup() {
  for pid in "$demo_pid" "$cam_pid" "$encoder_pid"; do
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  done
  if [ -n "$origin_pid" ]; then
    kill "$origin_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$origin_pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$origin_pid" 2>/dev/null || true
  fi
  wait 2>/dev/null || true
  if [ -n "${SOAK_KEEP:-}" ]; then
    mkdir -p "$SOAK_KEEP" && cp "$work"/*.log "$work"/*.jsonl "$work"/*.tsv "$SOAK_KEEP"/ 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
RUST_LOG=warn,playlists_server::ingest=info "$origin_bin" --demo --listen "127.0.0.1:$port" \
  --ingest-grace-secs "$grace" "${origin_args[@]}" 2>"$work/origin.log" &
origin_pid=$!
for _ in $(seq 100); do curl -sf --max-time 1 "$base/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf --max-time 1 "$base/healthz" >/dev/null || { echo "soak.sh: the origin did not start" >&2; cat "$work/origin.log" >&2; exit 1; }

# The encoder: the demo clip looped in real time (-re), copied, cut into 200 ms fragments.
start_encoder() {
  ffmpeg -hide_banner -nostats -loglevel error -nostdin -re -stream_loop -1 -i "$clip" -c copy \
    -f mp4 -movflags cmaf+empty_moov+default_base_moof+frag_keyframe+skip_trailer \
    -frag_duration 200000 -method PUT "$base/ingest/cam" 2>>"$work/encoder.log" &
  encoder_pid=$!
}
start_encoder
for _ in $(seq 100); do
  curl -sf --max-time 1 "$base/cam/index.m3u8" 2>/dev/null | grep -q PRELOAD-HINT && break
  sleep 0.1
done
curl -sf --max-time 1 "$base/cam/index.m3u8" | grep -q PRELOAD-HINT \
  || { echo "soak.sh: the encoder's stream did not start" >&2; cat "$work/encoder.log" "$work/origin.log" >&2; exit 1; }

"$loadgen_bin" --url "$base/demo/index.m3u8" --players "$players" --secs "$secs" --report-secs 30 \
  --ramp-secs 10 --server-pid "$origin_pid" >"$work/loadgen-demo.jsonl" 2>"$work/loadgen-demo.log" &
demo_pid=$!
"$loadgen_bin" --url "$base/cam/index.m3u8" --players "$cam_players" --secs "$secs" --report-secs 30 \
  --ramp-secs 10 --server-pid "$origin_pid" >"$work/loadgen-cam.jsonl" 2>"$work/loadgen-cam.log" &
cam_pid=$!

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$origin_pid/status" 2>/dev/null || echo 0; }
errors_of() { tail -n 1 "$1" 2>/dev/null | sed -n 's/.*"errors":\([0-9]*\).*/\1/p'; }

# The main loop, once a second: restarts on schedule, RSS every 10 s, progress every 60 s.
started=$(date +%s)
interval=$((restarts > 0 ? secs / (restarts + 1) : secs + 1))
done_restarts=0
unexpected_exits=0
rss_warm=""
last_restart_t=""
next_sample=0
next_progress=60
: >"$work/rss.tsv"
: >"$work/restarts.tsv"
while :; do
  now=$(($(date +%s) - started))
  [ "$now" -ge "$secs" ] && break
  kill -0 "$origin_pid" 2>/dev/null || { echo "soak.sh: the origin exited at ${now} s" >&2; tail -20 "$work/origin.log" >&2; exit 1; }
  if ! kill -0 "$encoder_pid" 2>/dev/null; then
    # Not killed by us: ffmpeg stopped on its own (a refused or broken upload). Count it and
    # start it again, as an operator's supervisor would.
    unexpected_exits=$((unexpected_exits + 1))
    wait "$encoder_pid" 2>/dev/null || true
    start_encoder
  fi
  if [ "$done_restarts" -lt "$restarts" ] && [ "$now" -ge $(((done_restarts + 1) * interval)) ]; then
    kill -9 "$encoder_pid" 2>/dev/null || true
    wait "$encoder_pid" 2>/dev/null || true
    sleep "$pause"
    start_encoder
    done_restarts=$((done_restarts + 1))
    last_restart_t=$(($(date +%s) - started))
    printf '%s\t%s\n' "$done_restarts" "$last_restart_t" >>"$work/restarts.tsv"
  fi
  if [ "$now" -ge "$next_sample" ]; then
    printf '%s\t%s\n' "$now" "$(rss_kb)" >>"$work/rss.tsv"
    next_sample=$((next_sample + 10))
  fi
  if [ -z "$rss_warm" ] && [ "$now" -ge "$warmup" ]; then
    rss_warm=$(rss_kb)
  fi
  if [ "$now" -ge "$next_progress" ]; then
    next_progress=$((next_progress + 60))
    printf '{"bench":"soak","kind":"progress","t":%s,"rss_kb":%s,"restarts_done":%s,"demo_errors":%s,"cam_errors":%s}\n' \
      "$now" "$(rss_kb)" "$done_restarts" "$(errors_of "$work/loadgen-demo.jsonl")" "$(errors_of "$work/loadgen-cam.jsonl")" \
      | sed 's/:,/:null,/g; s/:}/:null}/g'
  fi
  sleep 1
done

# The loadgens stop by themselves at `secs`; give them a bounded while to print their summary.
for _ in $(seq 120); do
  kill -0 "$demo_pid" 2>/dev/null || kill -0 "$cam_pid" 2>/dev/null || break
  sleep 0.5
done
for pid in "$demo_pid" "$cam_pid"; do
  kill -0 "$pid" 2>/dev/null && { echo "soak.sh: a loadgen did not finish; killed" >&2; kill -9 "$pid"; }
done
wait "$demo_pid" 2>/dev/null || true
wait "$cam_pid" 2>/dev/null || true
demo_pid=""
cam_pid=""
rss_end=$(rss_kb)
encoder_alive=0
kill -0 "$encoder_pid" 2>/dev/null && encoder_alive=1
curl -sf --max-time 5 "$base/metrics" >"$work/metrics.txt" || : >"$work/metrics.txt"

python3 - "$work" "$secs" "$players" "$cam_players" "$restarts" "$done_restarts" \
  "$unexpected_exits" "$warmup" "${rss_warm:-0}" "$rss_end" "${last_restart_t:-null}" \
  "$encoder_alive" "$pause" "${origin_args[*]}" <<'PY'
import json, re, sys
(work, secs, players, cam_players, restarts, done_restarts, unexpected, warmup, rss_warm,
 rss_end, last_restart_t, encoder_alive, pause, origin_args) = sys.argv[1:]
secs, players, cam_players, restarts, done_restarts, unexpected, warmup = map(
    int, (secs, players, cam_players, restarts, done_restarts, unexpected, warmup))
rss_warm, rss_end = int(rss_warm), int(rss_end)
fail = []

def summary(stream):
    try:
        lines = [json.loads(l) for l in open(f"{work}/loadgen-{stream}.jsonl") if l.startswith("{")]
    except (OSError, ValueError):
        lines = []
    s = [l for l in lines if l.get("kind") == "summary"]
    if not s:
        fail.append(f"{stream}: no loadgen summary")
        return None
    s = s[-1]
    s["stream"] = stream
    print(json.dumps(s))
    return s

for stream, expect_players in (("demo", players), ("cam", cam_players)):
    s = summary(stream)
    if s is None:
        continue
    for key in ("errors", "gaps", "lost_parts", "duplicates", "listing_gaps", "msn_regressions"):
        if s[key] != 0:
            fail.append(f"{stream}: {key}={s[key]}")
    if s["parts"] == 0:
        fail.append(f"{stream}: no parts received")
    if s["players_active_at_end"] != expect_players:
        fail.append(f"{stream}: {s['players_active_at_end']}/{expect_players} players receiving parts at the end")
    if stream == "cam":
        if s["players_past_last_discontinuity"] != expect_players:
            fail.append(f"cam: {s['players_past_last_discontinuity']}/{expect_players} players past the last discontinuity")
        if s["discontinuities"] != done_restarts + unexpected:
            fail.append(f"cam: {s['discontinuities']} discontinuities for {done_restarts + unexpected} encoder restarts")
    elif s["discontinuities"] != 0:
        fail.append(f"demo: {s['discontinuities']} discontinuities")

# Ingest-to-publish delay from the histogram in /metrics (a quantile is its bucket's bound).
metrics = open(f"{work}/metrics.txt").read()
name = "playlists_ingest_publish_delay_seconds"
for stream in ("demo", "cam"):
    buckets = [(float("inf") if le == "+Inf" else float(le), int(n)) for le, n in re.findall(
        rf'^{name}_bucket{{stream="{stream}",le="([^"]+)"}} (\d+)$', metrics, re.M)]
    total = buckets[-1][1] if buckets else 0
    def q(p):
        for le, n in buckets:
            if n >= p * total:
                return None if le == float("inf") else le * 1000
        return None
    m = re.search(rf'^{name}_sum{{stream="{stream}"}} (\S+)$', metrics, re.M)
    mx = re.search(rf'^playlists_ingest_publish_delay_max_seconds{{stream="{stream}"}} (\S+)$', metrics, re.M)
    if total == 0:
        fail.append(f"{stream}: no publish delay in /metrics")
    print(json.dumps({"bench": "soak", "kind": "publish_delay", "stream": stream, "parts": total,
                      "p50_ms_at_most": q(0.5), "p99_ms_at_most": q(0.99),
                      "mean_ms": round(float(m.group(1)) * 1000 / total, 4) if m and total else None,
                      "max_ms": round(float(mx.group(1)) * 1000, 3) if mx else None}))

samples = [tuple(map(int, l.split())) for l in open(f"{work}/rss.tsv") if l.strip()]
after = [kb for t, kb in samples if t >= warmup]
ratio = rss_end / rss_warm if rss_warm else None
print(json.dumps({"bench": "soak", "kind": "rss", "warmup_secs": warmup, "rss_warm_kb": rss_warm,
                  "rss_end_kb": rss_end, "end_over_warm": round(ratio, 4) if ratio else None,
                  "max_after_warmup_kb": max(after) if after else None,
                  "min_after_warmup_kb": min(after) if after else None, "samples": len(samples)}))
if ratio is None or not 0.9 <= ratio <= 1.1:
    fail.append(f"RSS end/warm-up = {ratio}")

print(json.dumps({"bench": "soak", "kind": "restarts", "planned": restarts, "done": done_restarts,
                  "pause_secs": float(pause), "last_restart_at_secs": None if last_restart_t == "null" else int(last_restart_t),
                  "encoder_unexpected_exits": unexpected, "encoder_alive_at_end": encoder_alive == "1"}))
if done_restarts != restarts:
    fail.append(f"{done_restarts}/{restarts} restarts done")
if unexpected:
    fail.append(f"the encoder exited on its own {unexpected} times")
if encoder_alive != "1":
    fail.append("the encoder was not running at the end")

print(json.dumps({"bench": "soak", "pass": not fail, "secs": secs, "players": players,
                  "cam_players": cam_players, "restarts": done_restarts,
                  "origin_args": origin_args, "failures": fail}))
sys.exit(1 if fail else 0)
PY
