#!/usr/bin/env bash
# Build madagents/base:bookworm without an image registry:
#   debootstrap --variant=minbase bookworm DIR MIRROR  &&  tar -C DIR -c . | docker import - madagents/base:bookworm
# MIRROR is the first Debian mirror of the host's apt configuration that serves bookworm (or $DEBIAN_MIRROR).
# Skips when the image exists; --force rebuilds. Needs root (debootstrap) and a running daemon
# (containers/install-docker.sh does both).
set -euo pipefail

image="${BASE_IMAGE:-madagents/base:bookworm}"
suite=bookworm
force=0
for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        -h | --help) sed -n '2,7p' "$0"; exit 0 ;;
        *) echo "usage: $0 [--force]" >&2; exit 2 ;;
    esac
done
say() { echo "base/build: $*"; }
die() { echo "base/build: error: $*" >&2; exit 1; }

docker info >/dev/null 2>&1 || die "no Docker daemon answers: run containers/install-docker.sh first"
if ((!force)) && docker image inspect "$image" >/dev/null 2>&1; then
    say "$image exists, skipping (--force to rebuild)"
    exit 0
fi
[[ $(id -u) == 0 ]] || die "debootstrap needs root (re-run with sudo)"
command -v debootstrap >/dev/null || die "debootstrap is missing: run containers/install-docker.sh first"

# First URI whose suites include bookworm, from deb822 *.sources files, then one-line sources.list files.
host_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -r $f ]] || continue
        awk -v s="$suite" 'BEGIN { RS = ""; FS = "\n" }
            { uris = ""; ok = 0; on = 1
              for (i = 1; i <= NF; i++) {
                  if ($i ~ /^URIs:/)    { sub(/^URIs:[ \t]*/, "", $i); uris = $i }
                  if ($i ~ /^Suites:/)  { n = split($i, w, /[ \t]+/); for (j = 2; j <= n; j++) if (w[j] == s) ok = 1 }
                  if ($i ~ /^Enabled:[ \t]*no/) on = 0
              }
              if (ok && on && uris != "") { split(uris, u, /[ \t]+/); print u[1]; exit } }' "$f"
    done
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | sed -E 's/\[[^]]*\]//' | awk -v s="$suite" '$1 == "deb" && $3 == s { print $2; exit }' || true
}
mirror="${DEBIAN_MIRROR:-$(host_mirror | sed -n 1p)}"
[[ -n $mirror ]] || die "no apt source for '$suite' in /etc/apt/sources.list{,.d/}; set DEBIAN_MIRROR=<Debian mirror URL>"

dir="$(mktemp -d "${TMPDIR:-/var/tmp}/madagents-base.XXXXXX")"
cleanup() {  # debootstrap may leave proc/sys/dev mounted when it fails
    findmnt -rn -o TARGET | grep -F "$dir/" | sort -r | xargs -r umount -l || true
    rm -rf --one-file-system "$dir"
}
trap cleanup EXIT

say "debootstrap --variant=minbase $suite $dir $mirror"
start=$SECONDS
debootstrap --variant=minbase "$suite" "$dir" "$mirror" >"$dir.log" 2>&1 \
    || { tail -n 20 "$dir.log" >&2; die "debootstrap failed (full log: $dir.log)"; }
rm -f "$dir.log"
say "debootstrap took $((SECONDS - start)) s"
rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*

start=$SECONDS
tar --numeric-owner -C "$dir" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    --change 'LABEL org.madagents.image=base' \
    --change "LABEL org.madagents.debian_suite=$suite" \
    --message "debootstrap --variant=minbase $suite" - "$image" >/dev/null
say "docker import took $((SECONDS - start)) s: $image, $(docker image inspect -f '{{.Size}}' "$image" | numfmt --to=si)B"
