#!/usr/bin/env bash
# A/B of two launcher builds in one hyperfine run: the codex-linux-sandbox helper on its default
# backend and forced onto Landlock, per build. hyperfine runs each command's batch in turn, so on a
# busy machine prefer scripts/bench-ab-interleaved.py, which alternates the builds run by run.
# Usage: scripts/bench-ab.sh OLD_BINARY NEW_BINARY   (RUNS=n sets the run count; needs hyperfine)
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: scripts/bench-ab.sh OLD_BINARY NEW_BINARY" >&2; exit 2; }
cd "$(dirname "$0")/.."
mkdir -p target
# Not under /tmp: each build gets its own cache and temp dir, so neither reads the other's state.
work=$(mktemp -d "$PWD/target/cl-bench-ab.XXXXXX")
trap 'rm -rf "$work"' EXIT
ws=$work/ws
mkdir -p "$ws"
profile='{"type":"managed","file_system":{"type":"restricted","entries":[{"path":{"type":"special","value":{"kind":"root"}},"access":"read"},{"path":{"type":"path","path":"'$ws'"},"access":"write"},{"path":{"type":"special","value":{"kind":"slash_tmp"}},"access":"write"}]},"network":"restricted"}'
cmds=()
for side in old new; do
  bin=$1; shift
  mkdir -p "$work/$side/cache" "$work/$side/tmp"
  ln -s "$(realpath "$bin")" "$work/$side/codex-linux-sandbox"
  launch="env XDG_CACHE_HOME=$work/$side/cache TMPDIR=$work/$side/tmp $work/$side/codex-linux-sandbox"
  args="--sandbox-policy-cwd $ws --permission-profile '$profile' -- /usr/bin/true"
  eval "$launch $args"   # warm the probe cache
  cmds+=(-n "$side default" "$launch $args" -n "$side landlock" "$launch --backend landlock $args")
done
hyperfine -N --warmup 20 --runs "${RUNS:-300}" "${cmds[@]}"
