#!/usr/bin/env bash
# Installs s3s-fs, the S3-compatible server the archive tests (tests/archive.rs) start on
# loopback, when it is missing (and PLAYLISTS_S3_SERVER names no other). Called by
# scripts/test.sh, and by .ci/run in the background while the lints run.
#
# Pinned: 0.14 is the newest release that builds with this project's toolchain. Built
# unoptimised: about one minute of compiling on 2 cores instead of two, and the tests move
# kilobytes. (scripts/test-archive-garage.sh runs the same tests against Garage.)
set -euo pipefail
if [ -n "${PLAYLISTS_S3_SERVER:-}" ] || command -v s3s-fs >/dev/null 2>&1 \
    || [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs" ]; then
  exit 0
fi
cargo install s3s-fs --version 0.14.1 --features binary --locked --quiet --debug
