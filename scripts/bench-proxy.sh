#!/usr/bin/env bash
# Egress proxy overhead (issue 16): 200 HTTPS requests through an HTTP CONNECT tunnel of the
# proxy against 200 direct connections to a local TLS server (python3 ssl, openssl self-signed
# certificate), one run, printing the ratio. Everything stays on 127.0.0.1.
# Usage: scripts/bench-proxy.sh [CONNECTIONS]   (needs python3, openssl)
set -euo pipefail
cd "$(dirname "$0")/.."
export BENCH_CONNECTIONS=${1:-200}
cargo test --release --locked --quiet --test netproxy_bench -- --ignored --nocapture 2>&1 |
  grep -E 'HTTPS requests|panicked|failed'
