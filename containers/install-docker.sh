#!/usr/bin/env bash
# Install Debian's docker.io + debootstrap if missing, and start dockerd if no daemon answers.
# Safe to run again: each step is skipped when already done. Needs root (apt-get, dockerd).
#   DOCKERD_LOG      where dockerd writes its log    (default /var/log/dockerd.log)
#   DOCKERD_TIMEOUT  seconds to wait for the daemon  (default 60)
set -euo pipefail

log="${DOCKERD_LOG:-/var/log/dockerd.log}"
timeout="${DOCKERD_TIMEOUT:-60}"
say() { echo "install-docker: $*"; }
die() { echo "install-docker: error: $*" >&2; exit 1; }

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if ((${#missing[@]})); then
    [[ $(id -u) == 0 ]] || die "need root to apt-get install ${missing[*]} (re-run with sudo)"
    say "installing ${missing[*]} with apt-get"
    start=$SECONDS
    apt-get update -qq || die "apt-get update failed: check /etc/apt/sources.list(.d) and the network"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed (see the output above)"
    say "installed ${missing[*]} in $((SECONDS - start)) s"
else
    say "dockerd and debootstrap already installed"
fi
command -v docker >/dev/null || die "no docker CLI on PATH although docker.io is installed"

if docker info >/dev/null 2>&1; then
    say "a Docker daemon already answers ($(docker info --format '{{.ServerVersion}}, {{.Driver}}'))"
    exit 0
fi
[[ $(id -u) == 0 ]] || die "no Docker daemon answers and starting dockerd needs root (re-run with sudo)"
say "starting dockerd in the background, log: $log"
start=$SECONDS
nohup dockerd >>"$log" 2>&1 </dev/null &
pid=$!
until docker info >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || die "dockerd exited; see the end of $log"
    ((SECONDS - start < timeout)) || die "dockerd (pid $pid) did not answer within ${timeout} s; see $log"
    sleep 0.5
done
say "dockerd (pid $pid) answers after $((SECONDS - start)) s ($(docker info --format '{{.ServerVersion}}, {{.Driver}}'))"
