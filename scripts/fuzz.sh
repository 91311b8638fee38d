#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ for N seconds each, one after the other (default 60):
#
#   scripts/fuzz.sh            # 60 s per target
#   scripts/fuzz.sh 600        # 10 min per target
#   scripts/fuzz.sh 60 fmp4_splitter fmp4_init   # only these targets
#
# For humans, not CI (CI replays the committed corpus in plain `cargo test`, see
# crates/playlists-server/tests/fuzz_corpus_replay.rs). cargo-fuzz needs nightly features;
# on a stable toolchain this sets RUSTC_BOOTSTRAP=1, which allows them. New corpus inputs
# land in fuzz/corpus/<target>/: minimise before committing them
# (`cargo fuzz cmin <target>` in fuzz/). A crash stops the run and is saved under
# fuzz/artifacts/<target>/; reproduce it with `cargo fuzz run <target> <file>`. Each run's
# libFuzzer output is kept in fuzz/fuzz-<target>.log (its final stats are printed).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-60}"
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
  echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
  exit 2
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

# Stable toolchains refuse -Z flags without this; nightly ignores it.
export RUSTC_BOOTSTRAP=1
# One job at a time: the machines are shared, and one libFuzzer process is one core.
for target in "${targets[@]}"; do
  # A target's own dictionary if it has one (request.dict), else the fMP4 one.
  dict="$target.dict"
  [ -f "$dict" ] || dict=fmp4.dict
  echo "== $target: ${seconds}s, $dict"
  status=0
  cargo fuzz run --debug-assertions "$target" -- -max_total_time="$seconds" -dict="$dict" -jobs=1 -print_final_stats=1 || status=$?
  # With -jobs, libFuzzer writes the run to fuzz-0.log, which the next target would overwrite:
  # keep it per target and show the final stats (executions, coverage, corpus size).
  if [ -f fuzz-0.log ]; then
    mv fuzz-0.log "fuzz-$target.log"
    grep -E '^(#[0-9]+[[:space:]]+DONE|stat::|Done |==[0-9]+== ?ERROR|SUMMARY)' "fuzz-$target.log" || true
  fi
  if [ "$status" -ne 0 ] || [ -n "$(ls -A "artifacts/$target" 2>/dev/null)" ]; then
    echo "== $target: failed (exit $status); see fuzz-$target.log and artifacts/$target/" >&2
    exit 1
  fi
done
