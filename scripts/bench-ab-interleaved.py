#!/usr/bin/env python3
"""A/B of two launcher builds, run strictly alternately (A, B, A, B, ...), so a busy machine's load
hits both alike: hyperfine runs one command's batch after the other's, and on a shared 2-core box
the load moves more between batches than the builds differ. Reports, per build and launch, the
median and the 10th percentile of wall time, and the mean CPU time (user+sys of the whole launch,
children included), which load disturbs much less than wall time.

Usage: scripts/bench-ab-interleaved.py OLD_BINARY NEW_BINARY [RUNS]
"""
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__.strip().splitlines()[-1])
    bins = {"old": os.path.realpath(sys.argv[1]), "new": os.path.realpath(sys.argv[2])}
    runs = int(sys.argv[3]) if len(sys.argv) == 4 else 300
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target")
    os.makedirs(root, exist_ok=True)
    # Not under /tmp: each build gets its own cache and temp dir, so neither reads the other's state.
    with tempfile.TemporaryDirectory(prefix="cl-bench-abi.", dir=root) as work:
        ws = os.path.join(work, "ws")
        os.mkdir(ws)
        profile = (
            '{"type":"managed","file_system":{"type":"restricted","entries":['
            '{"path":{"type":"special","value":{"kind":"root"}},"access":"read"},'
            '{"path":{"type":"path","path":"' + ws + '"},"access":"write"},'
            '{"path":{"type":"special","value":{"kind":"slash_tmp"}},"access":"write"}]},'
            '"network":"restricted"}'
        )
        cases = []
        for side, binary in bins.items():
            for d in ("cache", "tmp"):
                os.makedirs(os.path.join(work, side, d))
            link = os.path.join(work, side, "codex-linux-sandbox")
            os.symlink(binary, link)
            env = dict(os.environ, XDG_CACHE_HOME=os.path.join(work, side, "cache"),
                       TMPDIR=os.path.join(work, side, "tmp"))
            for k in ("CODEX_LAUNCHER_LOG", "RUST_LOG", "CODEX_LAUNCHER_BWRAP", "CODEX_LAUNCHER_BACKEND"):
                env.pop(k, None)
            args = ["--sandbox-policy-cwd", ws, "--permission-profile", profile, "--", "/usr/bin/true"]
            for backend, extra in (("default", []), ("landlock", ["--backend", "landlock"])):
                cases.append((f"{side} {backend}", [link] + extra + args, env))
        cases.append(("bare true", ["/usr/bin/true"], dict(os.environ)))
        wall = {name: [] for name, _, _ in cases}
        cpu = {name: 0.0 for name, _, _ in cases}
        for i in range(runs + 10):
            for name, argv, env in cases:
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                start = time.perf_counter()
                rc = subprocess.run(argv, env=env).returncode
                elapsed = time.perf_counter() - start
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                if rc != 0:
                    sys.exit(f"{name} exited {rc}")
                if i < 10:  # warm-up: caches, page cache
                    continue
                wall[name].append(elapsed * 1000)
                cpu[name] += (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
        print(f"{'launch':18} {'median':>8} {'p10':>8} {'cpu mean':>9}   ({runs} alternating runs)")
        for name, _, _ in cases:
            w = sorted(wall[name])
            print(f"{name:18} {statistics.median(w):7.2f}ms {w[len(w) // 10]:7.2f}ms {cpu[name] / runs:8.2f}ms")


if __name__ == "__main__":
    main()
