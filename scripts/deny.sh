#!/usr/bin/env bash
# Licences, bans and sources of every dependency (deny.toml), with cargo-deny; installs the
# pinned cargo-deny when it is missing (about 2.5 minutes of compiling on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
version=0.20.2
if ! cargo deny --version 2>/dev/null | grep -qx "cargo-deny $version"; then
  cargo install cargo-deny --version "$version" --locked --quiet
fi
# cargo-deny reads the metadata of every platform's dependencies, including crates no build here
# downloads (Windows-only ones): fetch them all first, then check without touching the network.
cargo fetch --locked --quiet
cargo deny --offline check licenses bans sources
