#!/usr/bin/env bash
# The archive tests (crates/playlists-server/tests/archive.rs) against Garage, a distributed
# S3-compatible object store, as one node on loopback. Installs Garage from crates.io when it
# is missing: about eight minutes of compiling on 2 cores, which is why CI runs these tests
# against s3s-fs instead (scripts/test.sh). NOT run by CI.
#
#   scripts/test-archive-garage.sh            # installs garage into target/garage if needed
#   GARAGE=/path/to/garage scripts/test-archive-garage.sh
set -euo pipefail
cd "$(dirname "$0")/.."

garage="${GARAGE:-}"
if [ -z "$garage" ]; then
  if command -v garage >/dev/null 2>&1; then
    garage="$(command -v garage)"
  else
    root="$PWD/target/garage"
    if [ ! -x "$root/bin/garage" ]; then
      # One node needs neither the K2V API nor metrics; LMDB is its default metadata engine.
      cargo install garage --version 2.5.0 --locked --no-default-features \
        --features bundled-libs,lmdb --root "$root"
    fi
    garage="$root/bin/garage"
  fi
fi
"$garage" --version
PLAYLISTS_S3_SERVER="$garage" cargo test -p playlists-server --test archive "$@"
