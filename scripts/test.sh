#!/usr/bin/env bash
# The project's test command (the README's second command; .ci/run calls it too).
# Installs what the tests talk to when it is missing, then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

# ffmpeg/ffprobe: real encoder output for the ingest tests.
if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null
  else
    echo "scripts/test.sh: ffmpeg and ffprobe are needed (apt-get install ffmpeg)" >&2
    exit 1
  fi
fi

# The Python `m3u8` package: an independent parser that re-reads every playlist snapshot.
if ! python3 -c 'import m3u8' >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check m3u8
fi

# s3s-fs: the S3-compatible server of the archive tests.
scripts/install-s3s-fs.sh

cargo test --workspace --all-targets "$@"
# Doc tests (the crate-level example among them) are not part of --all-targets.
cargo test --workspace --doc
