#!/usr/bin/env bash
# Builds the Debian package (cargo deb; the metadata is in crates/playlists-server/Cargo.toml)
# from the release binary and checks what it installs: unpacked into a scratch root with
# `dpkg -x`, the binary runs and names its version, the unit is in place and verifies, the
# default configuration is a conffile. Installs the pinned cargo-deb when it is missing (under
# a minute of compiling on 2 cores). Prints the package's path.
set -euo pipefail
cd "$(dirname "$0")/.."
version=3.8.0
if ! cargo deb --version 2>/dev/null | grep -qx "cargo-deb $version"; then
  cargo install cargo-deb --version "$version" --locked --quiet
fi
cargo build --release -q -p playlists-server --bin playlists
# Stripped: the release profile keeps line tables for profiling, which a package does not need.
deb="$(cargo deb -p playlists-server --no-build --strip 2>/dev/null | tail -n 1)"
[ -f "$deb" ] || { echo "scripts/deb.sh: cargo deb made no package" >&2; exit 1; }

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
dpkg -x "$deb" "$root"
fail() { echo "scripts/deb.sh: $*" >&2; exit 1; }
[ -x "$root/usr/bin/playlists" ] || fail "no /usr/bin/playlists in $deb"
if readelf -S "$root/usr/bin/playlists" | grep -q '\.debug_info'; then fail "the packaged binary is not stripped"; fi
"$root/usr/bin/playlists" --version | grep -q "^playlists $(dpkg-deb -f "$deb" Version | cut -d- -f1) (" \
  || fail "the packaged binary does not name the package's version"
[ -f "$root/lib/systemd/system/playlists.service" ] || fail "no unit in $deb"
grep -q '^ExecStart=/usr/bin/playlists ' "$root/lib/systemd/system/playlists.service" \
  || fail "the unit does not start the packaged binary"
[ -f "$root/etc/playlists/playlists.toml" ] || fail "no default configuration in $deb"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/playlists/playlists.toml \
  || fail "/etc/playlists/playlists.toml is not a conffile (an upgrade would overwrite local edits)"
dpkg-deb -f "$deb" Depends | grep -q libc6 || fail "no dependency on libc6 recorded"
if command -v systemd-analyze >/dev/null 2>&1; then
  # The unit as installed, pointed at the unpacked binary (verify checks that it exists).
  sed "s#/usr/bin/playlists#$root/usr/bin/playlists#g" "$root/lib/systemd/system/playlists.service" \
    >"$root/playlists.service"
  out="$(systemd-analyze verify "$root/playlists.service" 2>&1)" || fail "systemd-analyze verify: $out"
  [ -z "$out" ] || fail "systemd-analyze verify: $out"
fi
echo "$deb"
