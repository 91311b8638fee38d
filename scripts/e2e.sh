#!/usr/bin/env bash
# End-to-end suite (e2e/): the release binary, real ffmpeg, nginx as a cache tier, and hls.js
# and video.js in Debian's headless Chromium. Installs what it needs when missing — apt:
# chromium, ffmpeg, nginx; npm: the packages locked in e2e/package-lock.json — and never
# downloads a browser.
# Results: one JSON line per scenario on stdout and in target/e2e/results.jsonl, screenshots
# in target/e2e/.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || need+=(ffmpeg)
[ -x /usr/sbin/nginx ] || need+=(nginx)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "scripts/e2e.sh: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    # Debian's package starts its nginx service on install (port 80); the suite runs its own
    # nginx on a free loopback port, so stop the one the install just started.
    if [[ " ${need[*]} " == *" nginx "* ]] && [ -s /run/nginx.pid ]; then
      /usr/sbin/nginx -s quit >/dev/null 2>&1 || true
    fi
  else
    echo "scripts/e2e.sh: needs ${need[*]} (apt-get install ${need[*]})" >&2
    exit 1
  fi
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "scripts/e2e.sh: needs Node.js >= 20 and npm" >&2
  exit 1
fi
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || {
  echo "scripts/e2e.sh: needs Node.js >= 20, found $(node --version)" >&2
  exit 1
}

# loadgen: the simulated players of e2e/tests/7-nginx-load.test.js.
cargo build --release --bin playlists --example loadgen
cd e2e
# playwright-core must not fetch a browser (it does not on install; this makes sure).
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
npm ci --no-audit --no-fund --loglevel=error
# A bound on the whole suite: the scenarios take about 6 minutes here (the video.js ones about
# 2 of them); every test also has its own timeout, and the suite kills its processes on any exit.
timeout --kill-after=15 600 npm test
