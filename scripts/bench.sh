#!/usr/bin/env bash
# Launch overhead of the codex-linux-sandbox personality, measured in one run against
#   - the raw bubblewrap command our plan produces (same argv, running /usr/bin/true directly),
#   - the same helper on the vendored bubblewrap, and its raw counterpart,
#   - the same helper forced onto Landlock + seccomp, against a bare /usr/bin/true,
#   - real Codex's helper with the same profile, when CODEX_REFERENCE_BIN names a Codex binary.
# Then the peak RSS of a launch (GNU time) and the throughput of 100 concurrent helper launches
# against 100 concurrent raw bubblewrap runs of the same plan (BENCH_CONCURRENT=n to change 100).
# The rows are timed in rounds (BENCH_ROUNDS, default 10, of BENCH_RUNS / BENCH_ROUNDS runs per
# row): this machine's speed drifts by more than the differences measured here within seconds, so
# each ratio is taken within a round, where both of its rows saw the same machine, and the median
# over rounds is printed. BENCH_BIN=path times that binary instead of building this tree's.
# Usage: scripts/bench.sh [hyperfine options...]   (needs hyperfine, strace, python3, bwrap,
# /usr/bin/time)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${BENCH_BIN:-}" ]; then
  bin=$(realpath "$BENCH_BIN")
else
  cargo build --release --locked --quiet
  bin=$PWD/target/release/codex-launcher
fi
# Not under /tmp: a per-task home must not live in the temp dir.
work=$(mktemp -d "$PWD/target/cl-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/ws" "$work/ws-run" "$work/cache" "$work/tmp"
ln -s "$bin" "$work/codex-linux-sandbox"
export XDG_CACHE_HOME=$work/cache
# A temp dir of its own: the mount-target registry lives there, and sharing the system one with
# whatever else runs as this user would time their lock waits, not our launch.
export TMPDIR=$work/tmp
unset CODEX_LAUNCHER_LOG RUST_LOG CODEX_LAUNCHER_BWRAP

ws=$work/ws
profile='{"type":"managed","file_system":{"type":"restricted","entries":[{"path":{"type":"special","value":{"kind":"root"}},"access":"read"},{"path":{"type":"path","path":"'$ws'"},"access":"write"},{"path":{"type":"special","value":{"kind":"slash_tmp"}},"access":"write"}]},"network":"restricted"}'
helper=("$work/codex-linux-sandbox" --sandbox-policy-cwd "$ws" --permission-profile "$profile" -- /usr/bin/true)
# The same profile in a workspace no raw bwrap ever runs in: its .agents, .aws, .codex and .git stay
# missing, so every launch has bubblewrap create them as mount points and the launcher remove them
# (the common case: a real workspace has none of them but .git). In $ws the raw rows leave them.
ws_fresh=$work/ws-fresh
mkdir -p "$ws_fresh"
helper_fresh=("$work/codex-linux-sandbox" --sandbox-policy-cwd "$ws_fresh" --permission-profile "${profile//$ws/$ws_fresh}" -- /usr/bin/true)

# The argv our helper hands to bubblewrap, read from its execve (system bwrap) with the inner
# stage replaced by /usr/bin/true and --info-fd dropped (nothing reads it in a raw run).
raw_argv() {
  local trace=$work/trace
  env "$@" strace -f -qq -v -s 100000 -e trace=execve -o "$trace" "${helper[@]}"
  python3 - "$trace" "${MODE:-raw}" <<'PY'
import re, shlex, sys
for line in open(sys.argv[1]):
    m = re.search(r'execve\("([^"]*bwrap)", \[(.*)\], \[', line)
    if not m:
        continue
    args = [a.encode().decode("unicode_escape") for a in re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2))]
    split = args.index("--")
    inner, args = args[split + 1:], args[1:split]
    out, i = [], 0
    while i < len(args):
        if args[i] == "--info-fd":
            i += 2
            continue
        out.append(args[i]); i += 1
    tail = inner if sys.argv[2] == "inner" else ["/usr/bin/true"]
    print(shlex.join([m.group(1)] + out + ["--"] + tail))
    break
PY
}

# Warm the probe caches, then derive the raw command.
"${helper[@]}"
raw_system=$(raw_argv)
with_inner=$(MODE=inner raw_argv)
[ -n "$raw_system" ] || { echo "bench: the helper did not run a system bwrap; install bubblewrap >= 0.5" >&2; exit 1; }
raw_vendored="$bin bwrap ${raw_system#* }"
raw_vendored=${raw_vendored//--argv0 codex-linux-sandbox /}

# codex-run: a warm run (home already current) against the raw bwrap of its own plan, and a
# prepare-home on a 10k-line shared config.toml.
shared=$work/shared; mkdir -p "$shared"
python3 - "$shared/config.toml" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write('model = "o3"\n')
    for i in range(2500):
        f.write(f'[mcp_servers.s{i}]\ncommand = "server-{i}"\nargs = ["--port", "{i}"]\n\n')
PY
mkdir -p "$work/run-shared" && printf 'model = "o3"\n[features]\nweb_search = true\n' > "$work/run-shared/config.toml"
# A workspace of its own: the raw bwrap rows leave their mount points behind (nothing cleans up
# after a raw bwrap), and codex-run's plan for a missing .codex (a file) differs from the helper's.
run=("$bin" run --shared-home "$work/run-shared" --home "$work/state/run/codex-home" --cwd "$work/ws-run" --codex /usr/bin/true)
"${run[@]}"
raw_run=$("${run[@]}" --dry-run --json | python3 -c '
import json, shlex, sys
plan = json.load(sys.stdin)["plan"]
argv, out, i = plan["argv"], [], 0
split = argv.index("--")
args = argv[:split]
while i < len(args):
    if args[i] == "--info-fd":
        i += 2
        continue
    # The proxy socket dir comes as a descriptor the launcher opens; a raw run has none (and its
    # /usr/bin/true needs no proxy).
    if args[i] == "--ro-bind-fd":
        i += 3
        continue
    out.append(args[i]); i += 1
print(shlex.join([plan["program"]] + out + ["--", "/usr/bin/true"]))')
prepare=("$bin" prepare-home --shared-home "$shared" --home "$work/state/prep/codex-home" --cwd "$ws" --outer-backend bwrap-system)
"${prepare[@]}" > /dev/null

cmds=(-n "raw bwrap (system)" "$raw_system"
      -n "raw bwrap (codex-run plan)" "$raw_run"
      -n "codex-run (warm)" "$(printf '%q ' "${run[@]}")"
      -n "prepare-home (10k-line config)" "$(printf '%q ' "${prepare[@]}")"
      -n "bwrap + inner stage" "$with_inner"
      -n "helper (system bwrap)" "$(printf '%q ' "${helper[@]}")"
      -n "helper (fresh workspace)" "$(printf '%q ' "${helper_fresh[@]}")"
      -n "raw bwrap (vendored)" "$raw_vendored"
      -n "helper (vendored bwrap)" "$(printf '%q ' "${helper[0]}" --backend bwrap-vendored "${helper[@]:1}")"
      -n "bare true" "/usr/bin/true"
      -n "helper (landlock)" "$(printf '%q ' "${helper[0]}" --backend landlock "${helper[@]:1}")")
if [ -n "${CODEX_REFERENCE_BIN:-}" ]; then
  mkdir -p "$work/ref"
  ln -s "$CODEX_REFERENCE_BIN" "$work/ref/codex-linux-sandbox"
  cmds+=(-n "Codex 0.169 helper" "$work/ref/codex-linux-sandbox --sandbox-policy-cwd $ws --permission-profile '$profile' -- /usr/bin/true")
fi

rounds=${BENCH_ROUNDS:-10}
per_round=$(( (${BENCH_RUNS:-300} + rounds - 1) / rounds ))
for round in $(seq "$rounds"); do
  printf 'bench: round %d of %d\n' "$round" "$rounds" >&2
  hyperfine -N --warmup 5 --runs "$per_round" --export-json "$work/round-$round.json" "$@" "${cmds[@]}" > /dev/null
done
python3 - "$work"/round-*.json <<'PY'
import json, statistics, sys
rounds = [{x["command"]: x for x in json.load(open(f))["results"]} for f in sys.argv[1:]]
def over(f): return statistics.median(f(r) for r in rounds)
def ms(n): return over(lambda r: r[n]["median"]) * 1000
def row(name, base):
    ratio = over(lambda r: r[name]["median"] / r[base]["median"])
    print(f"{name:26} {ms(name):7.2f} ms  {ratio:5.2f}x {base}")
print(f"median launch time over {len(rounds)} rounds; ratio to the row on the right, the median of each round's ratio")
row("helper (system bwrap)", "raw bwrap (system)")
row("bwrap + inner stage", "raw bwrap (system)")
row("helper (system bwrap)", "bwrap + inner stage")
fresh = over(lambda r: r["helper (fresh workspace)"]["median"] - r["helper (system bwrap)"]["median"]) * 1000
print(f"{'helper (fresh workspace)':26} {ms('helper (fresh workspace)'):7.2f} ms  {fresh:+.2f} ms vs the helper row, whose mount points exist")
row("helper (vendored bwrap)", "raw bwrap (vendored)")
row("helper (vendored bwrap)", "raw bwrap (system)")
over_true = over(lambda r: r["helper (landlock)"]["median"] - r["bare true"]["median"]) * 1000
print(f"{'helper (landlock)':26} {ms('helper (landlock)'):7.2f} ms  +{over_true:.2f} ms over bare /usr/bin/true")
row("codex-run (warm)", "raw bwrap (codex-run plan)")
print(f"{'prepare-home (10k lines)':26} {ms('prepare-home (10k-line config)'):7.2f} ms")
if "Codex 0.169 helper" in rounds[0]:
    row("helper (system bwrap)", "Codex 0.169 helper")
    row("Codex 0.169 helper", "raw bwrap (system)")
PY

# Peak RSS: wait4's ru_maxrss is the largest of the launcher and every process it waited for
# (bubblewrap, the inner stage, the command), so this bounds the launcher's own peak before exec.
rss() {
  /usr/bin/time -f %M -o "$work/rss" "$@" > /dev/null
  awk '{ printf "%.2f MiB\n", $1 / 1024 }' "$work/rss"
}
echo "peak RSS (largest process of the launch; goal: launcher <= 6 MiB)"
# The resident set depends on the text layout (build.rs): say how much of it this binary got.
python3 - "$bin" link/startup-symbols.txt <<'PY'
import subprocess, sys
names = {l.split()[-1] for l in subprocess.run(["nm", sys.argv[1]], capture_output=True, text=True).stdout.splitlines() if l.strip()}
listed = [l.strip() for l in open(sys.argv[2]) if l.strip()]
print(f"  startup layout: {sum(n in names for n in listed)} of {len(listed)} listed functions in the binary"
      " (scripts/startup-symbols.sh renews the list)")
PY
printf '  %-26s %s\n' "helper (system bwrap)" "$(rss "${helper[@]}")"
printf '  %-26s %s\n' "helper (landlock)" "$(rss "${helper[0]}" --backend landlock "${helper[@]:1}")"
printf '  %-26s %s\n' "codex-run (warm)" "$(rss "${run[@]}")"
printf '  %-26s %s\n' "raw bwrap (system)" "$(eval "rss $raw_system")"

# Throughput under concurrency: n launches at once, all in one workspace (so they share the
# registry entries, as parallel tool calls of one task do), against n raw bubblewrap runs.
n=${BENCH_CONCURRENT:-100}
burst() {
  printf 'for i in $(seq %d); do %s > /dev/null & done; for p in $(jobs -p); do wait $p || exit 1; done' "$n" "$1"
}
# In rounds too: one burst of each per round, the ratio taken within the round.
for round in $(seq "${BENCH_CONCURRENT_RUNS:-10}"); do
  hyperfine -N --warmup 1 --runs 1 --export-json "$work/burst-$round.json" \
    -n "raw bwrap x$n" "bash -c $(printf '%q' "$(burst "$raw_system")")" \
    -n "helper x$n" "bash -c $(printf '%q' "$(burst "$(printf '%q ' "${helper[@]}")")")" > /dev/null
done
python3 - "$n" "$work"/burst-*.json <<'PY'
import json, statistics, sys
n = sys.argv[1]
rounds = [{x["command"]: x["mean"] for x in json.load(open(f))["results"]} for f in sys.argv[2:]]
raw = statistics.median(r[f"raw bwrap x{n}"] for r in rounds)
ours = statistics.median(r[f"helper x{n}"] for r in rounds)
ratio = statistics.median(r[f"raw bwrap x{n}"] / r[f"helper x{n}"] for r in rounds)
print(f"{n} concurrent launches: raw bwrap {raw * 1000:.0f} ms, helper {ours * 1000:.0f} ms; "
      f"helper throughput {ratio:.2f}x raw (goal >= 0.8x)")
PY
