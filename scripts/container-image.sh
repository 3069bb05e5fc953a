#!/usr/bin/env bash
# Builds what tests/container_podman.rs runs, without an image registry (DESIGN §8):
#   OUT/rootfs-SUITE-ARCH/   a minimal Debian made by debootstrap from the mirror this machine's apt
#                            already uses, cached across runs (it is the slow part: ~30 s);
#   OUT/image/               a copy of it with deploy/Dockerfile's runtime stage applied: the release
#                            binary copied in, then deploy/image-setup.sh run inside it by podman;
#   OUT/moby-default.json    moby's default seccomp profile (what `docker run` applies), taken from
#                            Debian's golang-github-docker-docker-dev package.
# Usage: scripts/container-image.sh BINARY [OUT]      (as root; OUT defaults to target/container)
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:?usage: scripts/container-image.sh BINARY [OUT]}
out=${2:-target/container}
[ "$(id -u)" = 0 ] || { echo "container-image.sh: needs root (debootstrap, podman)" >&2; exit 1; }
for tool in debootstrap podman dpkg-deb apt-get; do
    command -v "$tool" >/dev/null || { echo "container-image.sh: $tool is not installed" >&2; exit 1; }
done
bin=$(realpath "$bin")
mkdir -p "$out"
out=$(realpath "$out")

# The suite is the runtime stage's (FROM debian:SUITE-slim); the mirror is the apt source that
# serves this host's own release (not the security or updates suites, nor a third-party one).
suite=${CODEX_CT_SUITE:-$(sed -nE 's/^FROM[[:space:]]+debian:([a-z]+)-slim.*/\1/p' deploy/Dockerfile | tail -n 1)}
[ -n "$suite" ] || { echo "container-image.sh: no FROM debian:SUITE-slim in deploy/Dockerfile" >&2; exit 1; }
. /etc/os-release
host_suite=$VERSION_CODENAME
mirror=$(
    {
        # one-line sources: deb [options] URI SUITE COMPONENTS...
        grep -hsE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
            sed -E 's/\[[^]]*\]//' | awk -v s="$host_suite" '$3 == s { print $2 }'
        # deb822 .sources files: a stanza's URIs with a Suites line that names the suite itself.
        awk -v s="$host_suite" '
            /^URIs:/ { uris = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) print uris }
            /^$/ { uris = "" }' /etc/apt/sources.list.d/*.sources 2>/dev/null
    } | head -n 1
)
[ -n "$mirror" ] || { echo "container-image.sh: no apt source serves $host_suite" >&2; exit 1; }
arch=$(dpkg --print-architecture)

# Only what the runtime stage installs and the tests use: bubblewrap (the bwrap-system backend),
# ca-certificates. Codex itself (nodejs, npm, the npm package) is left out: the tests run shell
# tasks, and npm would need a registry inside the build.
include=bubblewrap,ca-certificates
base=$out/rootfs-$suite-$arch
stamp="$mirror $suite $arch minbase $include"
if [ "$(cat "$base/.codex-ct-stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "debootstrap $suite from $mirror into $base"
    rm -rf "$base" "$base.tmp"
    debootstrap --variant=minbase --include="$include" "$suite" "$base.tmp" "$mirror" >"$out/debootstrap.log" 2>&1 ||
        { tail -n 20 "$out/debootstrap.log" >&2; exit 1; }
    # debian:*-slim drops these too; they are a third of minbase.
    rm -rf "$base.tmp"/var/cache/apt/archives/*.deb "$base.tmp"/var/lib/apt/lists/* \
        "$base.tmp"/usr/share/doc/* "$base.tmp"/usr/share/man/* "$base.tmp"/usr/share/locale/*
    echo "$stamp" >"$base.tmp/.codex-ct-stamp"
    mv "$base.tmp" "$base"
fi

# podman's default ulimits (containers.conf) exceed what root without CAP_SYS_RESOURCE may set,
# and runc then refuses to start; these fit under any hard limit a CI machine has.
ulimits=(--ulimit nofile=4096:4096 --ulimit nproc=4096:4096)

# The runtime stage, over a fresh copy: COPY --from=build, then RUN image-setup.sh.
image=$out/image
rm -rf "$image" "$image.tmp"
cp -a "$base" "$image.tmp"
rm -f "$image.tmp/.codex-ct-stamp"
install -m 0755 "$bin" "$image.tmp/usr/local/bin/codex-launcher"
install -D -m 0755 deploy/image-setup.sh "$image.tmp/usr/local/lib/codex-launcher/image-setup.sh"
podman --runtime runc run --rm --network none "${ulimits[@]}" --user 0:0 --rootfs "$image.tmp" \
    /bin/sh /usr/local/lib/codex-launcher/image-setup.sh
sha256sum "$bin" | cut -d' ' -f1 >"$image.tmp/.codex-ct-binary-sha256"
mv "$image.tmp" "$image"

# moby's default seccomp profile from the Debian package that ships moby's sources, unpacked
# only: installing it would pull in a Go toolchain's worth of -dev packages.
profile=$out/moby-default.json
pkg=golang-github-docker-docker-dev
version=$(apt-cache policy "$pkg" | awk '/Candidate:/ { print $2 }')
if [ "$(cat "$profile.version" 2>/dev/null)" != "$version" ]; then
    work=$(mktemp -d)
    (cd "$work" && apt-get download -qq "$pkg" >/dev/null 2>&1) ||
        { echo "container-image.sh: apt-get download $pkg failed" >&2; rm -rf "$work"; exit 1; }
    dpkg-deb -x "$work"/"$pkg"_*.deb "$work/x"
    found=$(find "$work/x" -path '*/profiles/seccomp/default.json' | head -n 1)
    [ -n "$found" ] || { echo "container-image.sh: $pkg has no profiles/seccomp/default.json" >&2; exit 1; }
    cp "$found" "$profile"
    echo "$version" >"$profile.version"
    rm -rf "$work"
fi
echo "image: $image (binary $(cat "$image/.codex-ct-binary-sha256" | cut -c1-12)), seccomp: $profile ($pkg $version)"
