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
# fuzz/artifacts/<target>/; reproduce it with `cargo fuzz run <target> <file>`.
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
  echo "== $target: ${seconds}s"
  cargo fuzz run --debug-assertions "$target" -- -max_total_time="$seconds" -dict=fmp4.dict -jobs=1 -print_final_stats=1
done
