#!/usr/bin/env bash
# What recording costs live delivery: the blocking fan-out (10,000 held _HLS_msn/_HLS_part
# requests over HTTP/1.1, one publish; examples/fanout.rs) with the origin recording every
# segment (bench_origin --record-dir) against the same origin not recording, alternating in
# the same run. The publish completes a segment (--parts 10), so the recording origin queues
# it for its writer thread and writes it to disk while it answers the held requests.
# Prints one JSON object per run and a summary with the ratio of the median p99s
# (recording / not; the target is ≤ 1.10).
#
# Needs 2 CPUs and a hard `ulimit -n` above 10,000 (the soft limit is raised to it here).
# Not run by CI.
# Usage: scripts/bench-recording.sh [runs of each, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
ulimit -n "$(ulimit -Hn)"
cargo build --release -q -p playlists-server --example bench_origin --example fanout
bin=target/release/examples
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
: >"$work/runs"
for i in $(seq "$runs"); do
  for mode in off on; do
    args=(--origin-bin "$bin/bench_origin" --waiters 10000 --parts 10)
    if [ "$mode" = on ]; then
      rm -rf "$work/rec" && mkdir -p "$work/rec"
      args+=(--record-dir "$work/rec")
    fi
    line="$("$bin/fanout" "${args[@]}" 2>/dev/null)"
    python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r["recording"]=sys.argv[2]=="on"; print(json.dumps(r))' "$line" "$mode" | tee -a "$work/runs"
    if [ "$mode" = on ]; then
      # The segment the publish completed was written.
      ls "$work"/rec/*/*/*.m4s >/dev/null
    fi
  done
done
python3 - "$work/runs" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
med = {on: statistics.median(r["p99_ms"] for r in runs if r["recording"] == on) for on in (False, True)}
print(json.dumps({"bench": "recording_fanout", "impl": "summary", "runs_each": len(runs) // 2,
                  "all_answered": all(r["answered"] == r["waiters"] for r in runs),
                  "median_p99_ms_off": med[False], "median_p99_ms_on": med[True],
                  "p99_ratio_on_off": round(med[True] / med[False], 3), "target": 1.10}))
PY
