#!/bin/sh
# The runtime stage's own setup, after the release binary is copied to /usr/local/bin. Run by
# deploy/Dockerfile and, over a debootstrap root filesystem, by scripts/container-image.sh for the
# CI's podman test: one script, so the image CI runs is the image people build.
set -eu

# codex-run, codex-linux-sandbox and codex-entrypoint: symlinks to the one binary, which dispatches
# on its name. `install` never clobbers a file that is not its own symlink.
codex-launcher install --bin-dir /usr/local/bin

# A fixed numeric non-root user: Kubernetes can only verify runAsNonRoot against a numeric USER,
# and 1000 is what deploy/k8s/job.yaml runs as. Its HOME holds the per-task Codex homes and the
# probe cache, so it must be writable (a volume there keeps both between containers).
groupadd --gid 1000 codex
useradd --uid 1000 --gid 1000 --create-home --home-dir /home/codex --shell /bin/sh codex
install -d -o 1000 -g 1000 -m 0755 /workspace
