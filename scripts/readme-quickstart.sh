#!/usr/bin/env bash
# Runs the README's first quick-start command verbatim, from this checkout, under a clean HOME (only
# the Rust toolchain's own variables are kept), as a new user would, and fails unless it exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."

cmd=$(awk '/^## Quick start/ {q = 1; next} /^## / {q = 0}
           q && /^```sh$/ {b = 1; next} q && b && /^```$/ {exit} q && b {print}' README.md)
[ -n "$cmd" ] || { echo "no quick-start command in README.md" >&2; exit 1; }

# Not under a temp dir: the launcher refuses per-task homes there. A checkout that itself sits in
# /tmp or /var/tmp (a CI clone, say) gets its clean HOME elsewhere.
case "$PWD/" in
    /tmp/* | /var/tmp/* | "${TMPDIR:-/nonexistent}"/*)
        mkdir -p /var/lib/codex-launcher-tests
        home=$(mktemp -d /var/lib/codex-launcher-tests/readme-home.XXXXXX)
        trap 'rm -rf "$home"' EXIT ;;
    *) home="$PWD/target/readme-home" ;;
esac
rm -rf "$home"
mkdir -p "$home"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
rustup_home="${RUSTUP_HOME:-$HOME/.rustup}"
env -i HOME="$home" PATH="$cargo_home/bin:/usr/local/bin:/usr/bin:/bin" \
    CARGO_HOME="$cargo_home" RUSTUP_HOME="$rustup_home" bash -c "$cmd"
echo "README quick start: exit 0"
