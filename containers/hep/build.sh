#!/usr/bin/env bash
# Build madagents/hep:<version> and :latest on madagents/base:bookworm, from a small staged context:
# containers/hep/{Dockerfile,requirements.txt}, tools/*.py and, optionally, the host CA bundle for pip.
# Builds madagents/base:bookworm first when it is missing. Docker's layer cache makes a second run take seconds;
# a change in tools/ rebuilds only the last layers.
#   CA_BUNDLE          CA bundle for pip in the build (default: $PIP_CERT, else /etc/ssl/certs/ca-certificates.crt
#                      if readable; '' = none)
#   PIP_INDEX_URL      passed to pip in the build when set (it shows in `docker history`: no credentials in it)
#   MADAGENTS_VERSION  label org.madagents.version (default: the version in pyproject.toml)
#   --no-cache         rebuild every layer (passed to docker build)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
say() { echo "hep/build: $*"; }
die() { echo "hep/build: error: $*" >&2; exit 1; }
build_args=()
for arg in "$@"; do
    case "$arg" in
        --no-cache) build_args+=(--no-cache) ;;
        -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "usage: $0 [--no-cache]" >&2; exit 2 ;;
    esac
done

docker info >/dev/null 2>&1 || die "no Docker daemon answers: run containers/install-docker.sh first"
if ! docker image inspect madagents/base:bookworm >/dev/null 2>&1; then
    say "madagents/base:bookworm is missing: building it first"
    "$here/../base/build.sh"
fi
# shellcheck source=../lib/common.sh
source "$here/../lib/common.sh"
version="$(image_version)" || die "no version"
tools_sha256="$(tools_hash)"
if [[ -n ${TOOLS_SHA256:-} && $TOOLS_SHA256 != "$tools_sha256" ]]; then
    say "warning: TOOLS_SHA256 from the caller differs from tools/ now (edited meanwhile?); labelling $tools_sha256"
fi

ctx="$(mktemp -d "${TMPDIR:-/tmp}/madagents-hep-context.XXXXXX")"
trap 'rm -rf "$ctx"' EXIT
cp "$here/Dockerfile" "$here/requirements.txt" "$ctx/"
stage_tools "$ctx"
stage_ca "$ctx" || die "no CA bundle"
index_args=()
[[ -z ${PIP_INDEX_URL:-} ]] || index_args+=(--build-arg "PIP_INDEX_URL=$PIP_INDEX_URL")
chmod -R u=rwX,go=rX "$ctx"  # stable modes: the layer cache keys on them

use_available_builder
start=$SECONDS
docker build --force-rm "${build_args[@]}" "${index_args[@]}" \
    --build-arg "MADAGENTS_VERSION=$version" --build-arg "TOOLS_SHA256=$tools_sha256" \
    -t "madagents/hep:$version" -t madagents/hep:latest "$ctx" \
    || die "docker build failed (see above); a pip SSL error means the CA bundle is missing: set CA_BUNDLE"
# hep-full and ml start from the stack stage (all but tools/): every layer of it is cached by now (even after
# --no-cache, which is therefore not repeated here).
docker build --force-rm --target stack "${index_args[@]}" \
    -t "madagents/hep-stack:$version" "$ctx" >/dev/null \
    || die "tagging the stack stage madagents/hep-stack:$version failed"
size="$(docker image inspect -f '{{.Size}}' madagents/hep:latest | numfmt --to=si)"
say "built madagents/hep:$version (= :latest, ${size}B, tools ${tools_sha256:0:12}) in $((SECONDS - start)) s"
