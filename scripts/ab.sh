#!/usr/bin/env bash
# Compares two commands on this noisy machine: alternating batches of hyperfine runs (A, B and a
# bare /usr/bin/true each batch), then the median over batches of each batch's median and of the
# per-batch difference B - A. A single scripts/bench.sh run cannot separate 0.1 ms: the machine's
# speed drifts by more than that between rows; within one batch A and B see the same drift.
# Usage: scripts/ab.sh BATCHES 'command A' 'command B'   (needs hyperfine, python3)
# Example, the Landlock helper of two builds:
#   p='{"type":"managed","file_system":{"type":"restricted","entries":[{"path":{"type":"special","value":{"kind":"root"}},"access":"read"}]},"network":"restricted"}'
#   scripts/ab.sh 30 "old/codex-linux-sandbox --backend landlock --sandbox-policy-cwd $PWD --permission-profile '$p' -- /usr/bin/true" \
#                    "new/codex-linux-sandbox --backend landlock --sandbox-policy-cwd $PWD --permission-profile '$p' -- /usr/bin/true"
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: scripts/ab.sh BATCHES 'command A' 'command B'" >&2; exit 2; }
batches=$1 a=$2 b=$3
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for _ in $(seq "$batches"); do
  hyperfine -N --warmup 10 --runs "${AB_RUNS:-100}" "$a" "$b" /usr/bin/true --export-json "$out" >/dev/null 2>&1
  python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))["results"]
print(" ".join("%.4f" % (x["median"] * 1000) for x in r))' "$out"
done | python3 -c '
import statistics, sys
rows = [list(map(float, l.split())) for l in sys.stdin]
for i, name in enumerate(["A", "B", "true"]):
    col = [r[i] for r in rows]
    print(f"{name:5} median of batch medians {statistics.median(col):.3f} ms, best batch {min(col):.3f} ms")
print(f"B - A, median of per-batch differences: {statistics.median(r[1] - r[0] for r in rows):+.3f} ms over {len(rows)} batches")'
