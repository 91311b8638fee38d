#!/usr/bin/env bash
# Replaces the hls.js the origin embeds (crates/playlists-server/assets/hls.min.js, served at
# /assets/hls.min.js and loaded by the page at /) with a release from the npm registry.
#
#   scripts/update-hls-js.sh [VERSION]      (default: the version embedded now)
#
# Fetches the release with `npm pack hls.js@VERSION` (npm checks the tarball's integrity),
# copies its dist/hls.min.js and LICENSE unchanged, and writes VERSION where the repository
# names the embedded version: HLS_JS_VERSION in src/http/assets.rs (a unit test checks the
# file carries that version) and assets/README.md. Review `git diff`, run
# `cargo test -p playlists-server --test page` and the e2e page scenario, then commit.
set -euo pipefail
cd "$(dirname "$0")/.."

assets=crates/playlists-server/assets
code=crates/playlists-server/src/http/assets.rs
current=$(sed -n 's/^pub const HLS_JS_VERSION: &str = "\(.*\)";$/\1/p' "$code")
version=${1:-$current}
if ! [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$ ]]; then
  echo "scripts/update-hls-js.sh: '$version' is not an exact release version (e.g. 1.7.4)" >&2
  exit 1
fi
command -v npm >/dev/null 2>&1 || { echo "scripts/update-hls-js.sh: needs npm" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# An exact version, so the registry answers that release or fails: never a newer one.
tarball=$(cd "$tmp" && npm pack --silent "hls.js@$version")
tar -xzf "$tmp/$tarball" -C "$tmp" package/package.json package/LICENSE package/dist/hls.min.js
packed=$(node -p 'require(process.argv[1]).version' "$tmp/package/package.json")
if [ "$packed" != "$version" ]; then
  echo "scripts/update-hls-js.sh: asked for $version, the tarball is $packed" >&2
  exit 1
fi

cp "$tmp/package/dist/hls.min.js" "$assets/hls.min.js"
cp "$tmp/package/LICENSE" "$assets/hls.js.LICENSE"
sed -i "s/^pub const HLS_JS_VERSION: &str = \".*\";$/pub const HLS_JS_VERSION: \&str = \"$version\";/" "$code"
sed -i "s/^hls\.js version: .*$/hls.js version: $version/" "$assets/README.md"
grep -q "^pub const HLS_JS_VERSION: &str = \"$version\";$" "$code"
grep -q "^hls\.js version: $version$" "$assets/README.md"
echo "hls.js $version: $(wc -c <"$assets/hls.min.js") bytes in $assets/hls.min.js"
