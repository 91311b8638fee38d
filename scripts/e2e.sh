#!/usr/bin/env bash
# End-to-end suite (e2e/): the release binary, real ffmpeg, nginx as a cache tier, and hls.js
# and video.js in Debian's headless Chromium, and native players (GStreamer, ffmpeg, mpv).
# Installs what it needs when missing — apt: chromium, ffmpeg, nginx, GStreamer's plugins
# and Python bindings, mpv; npm: the packages locked in e2e/package-lock.json — and never
# downloads a browser.
# Results: one JSON line per scenario on stdout and in target/e2e/results.jsonl, screenshots
# in target/e2e/.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || need+=(ffmpeg)
[ -x /usr/sbin/nginx ] || need+=(nginx)
# Native players (e2e/tests/11-native-players.test.js): GStreamer's playbin3 (-base) with
# hlsdemux2 and the MP4 demuxer (-good) and H.264/AAC decoders (-bad: openh264, faad), driven
# from Debian's Python (python3-gi); and mpv.
/usr/bin/python3 -c 'import gi; gi.require_version("Gst", "1.0"); from gi.repository import Gst; Gst.init(None)
assert all(Gst.ElementFactory.find(e) for e in ("playbin3", "hlsdemux2", "qtdemux", "openh264dec", "faad"))' \
  >/dev/null 2>&1 || need+=(gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad python3-gi gir1.2-gstreamer-1.0)
command -v mpv >/dev/null 2>&1 || need+=(mpv)
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

# loadgen: the simulated players of e2e/tests/7-nginx-load.test.js and 13-upgrade.test.js, and
# the synthetic encoders and players of 15-sharded-origins.test.js.
cargo build --release --bin playlists --example loadgen
cd e2e
# playwright-core must not fetch a browser (it does not on install; this makes sure).
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
npm ci --no-audit --no-fund --loglevel=error
# A bound on the whole suite: the scenarios take about 16 minutes here (video.js about 2 of
# them, the native players 1.5, the restart and upgrade scenarios 1.5 each, sharding and RTMP
# one each); every test also has its own timeout, and the suite kills its processes on any exit.
timeout --kill-after=15 1500 npm test
