#!/usr/bin/env bash
# Regenerates link/startup-symbols.txt, the functions the launcher runs on its common launches,
# which build.rs has the linker (lld) place together at the start of the text. The kernel maps
# 64 KiB of the binary around each page a process touches, so with those functions spread over
# the whole text a launch maps most of it; packed, it maps little more than what it runs.
#
# The list is a layout hint only: a stale or missing entry costs resident memory, never
# correctness. Regenerate it after large changes and compare `scripts/bench.sh`'s peak RSS.
# Needs valgrind (callgrind), bwrap and python3; run as root or as a user with user namespaces.
# Under valgrind, Landlock and seccomp calls fail (ENOSYS), so those launches are recorded up to
# that point; the rest of their path is shared with the launches recorded whole.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
bin=$PWD/target/release/codex-launcher
work=$(mktemp -d "$PWD/target/startup-symbols.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/ws" "$work/cache" "$work/tmp" "$work/shared" "$work/state"
chmod 777 "$work" "$work/ws" "$work/tmp"
printf 'model = "o3"\n' > "$work/shared/config.toml"
ln -s "$bin" "$work/codex-linux-sandbox"
export XDG_CACHE_HOME=$work/cache XDG_STATE_HOME=$work/state TMPDIR=$work/tmp
ws=$work/ws
profile='{"type":"managed","file_system":{"type":"restricted","entries":[{"path":{"type":"special","value":{"kind":"root"}},"access":"read"},{"path":{"type":"path","path":"'$ws'"},"access":"write"},{"path":{"type":"special","value":{"kind":"slash_tmp"}},"access":"write"}]},"network":"restricted"}'
helper=("$work/codex-linux-sandbox" --sandbox-policy-cwd "$ws" --permission-profile "$profile")
run=("$bin" run --shared-home "$work/shared" --home "$work/state/home/codex-home" --cwd "$ws" --codex /usr/bin/true)

n=0
record() {
  n=$((n + 1))
  # Twice: the first run fills the probe cache; the second is the warm launch to record.
  "$@" > /dev/null 2>&1 || true
  valgrind -q --tool=callgrind --demangle=no --callgrind-out-file="$work/cg.$n" "$@" > /dev/null 2>&1 || true
}
record "${helper[@]}" -- /usr/bin/true
record "${helper[@]}" --backend bwrap-vendored -- /usr/bin/true
record "${helper[@]}" --backend landlock -- /usr/bin/true
record "${run[@]}"
record "${run[@]}" --backend landlock
# The inner stage as bubblewrap execs it (PID 1, no capabilities), here without a new pid
# namespace so that valgrind can run it.
setpriv --reuid=65534 --regid=65534 --clear-groups -- valgrind -q --tool=callgrind \
  --demangle=no --callgrind-out-file="$work/cg.inner" \
  "$bin" linux-sandbox --inherit-pid-namespace --sandbox-policy-cwd "$ws" \
  --permission-profile "$profile" --apply-seccomp-then-exec -- /usr/bin/true > /dev/null 2>&1 || true

python3 - "$bin" "$work"/cg.* > link/startup-symbols.txt <<'PY'
import re, subprocess, sys
binary, outputs = sys.argv[1], sys.argv[2:]
text = set()
for line in subprocess.run(["nm", binary], capture_output=True, text=True, check=True).stdout.splitlines():
    parts = line.split()
    if len(parts) == 3 and parts[1] in "tTW":
        text.add(parts[2])
# callgrind names each function once as "fn=(id) name" (or cfn= for a callee), later "(id)".
names, seen = [], set()
for path in outputs:
    ids = {}
    for line in open(path, errors="replace"):
        m = re.match(r"^c?fn=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if not m:
            continue
        if m.group(2) is not None:
            ids[m.group(1)] = m.group(2)
        name = ids.get(m.group(1))
        if name in text and name not in seen:
            seen.add(name)
            names.append(name)
print("\n".join(names))
PY
echo "startup-symbols: $(wc -l < link/startup-symbols.txt) functions in link/startup-symbols.txt" >&2
