#!/usr/bin/env bash
# End-to-end suite: the release binary, real ffmpeg, hls.js in Debian's headless Chromium.
# Installs what it needs when missing (apt: chromium, ffmpeg; npm: the locked e2e/ packages).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "scripts/e2e.sh: needs ${need[*]} (apt-get install ${need[*]})" >&2
    exit 1
  fi
fi

cargo build --release --bin playlists
(cd e2e && npm ci --no-audit --no-fund --loglevel=error && npm test)
