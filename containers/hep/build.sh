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
version="${MADAGENTS_VERSION:-$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$repo/pyproject.toml" | sed -n 1p)}"
[[ -n $version ]] || die "no 'version = \"...\"' line in $repo/pyproject.toml; set MADAGENTS_VERSION"

# Label org.madagents.tools_sha256, as madagents.images.tools_sha256() computes it: the `sha256sum` listing of
# tools/*.py (paths relative to the repository root, sorted bytewise), hashed again. Exactly these files are staged.
tool_files() { (cd "$repo" && find tools -maxdepth 1 -type f -name '*.py' -print0 | LC_ALL=C sort -z); }
tools_sha256="$(tool_files | (cd "$repo" && xargs -0 sha256sum) | sha256sum | cut -d' ' -f1)"
if [[ -n ${TOOLS_SHA256:-} && $TOOLS_SHA256 != "$tools_sha256" ]]; then
    say "warning: TOOLS_SHA256 from the caller differs from tools/ now (edited meanwhile?); labelling $tools_sha256"
fi

ctx="$(mktemp -d "${TMPDIR:-/tmp}/madagents-hep-context.XXXXXX")"
trap 'rm -rf "$ctx"' EXIT
cp "$here/Dockerfile" "$here/requirements.txt" "$ctx/"
tool_files | tar -C "$repo" --null -T - -c | tar -C "$ctx" -x
mkdir "$ctx/ca"
default_ca=/etc/ssl/certs/ca-certificates.crt
ca="${CA_BUNDLE-${PIP_CERT:-$default_ca}}"
if [[ -n $ca && -r $ca ]]; then
    cp "$ca" "$ctx/ca/ca-certificates.crt"
    say "pip in the build trusts the CA bundle $ca"
elif [[ -n $ca && $ca != "$default_ca" ]]; then
    die "CA bundle $ca (CA_BUNDLE or PIP_CERT) is not readable; set CA_BUNDLE='' to build without one"
fi
[[ -z ${PIP_INDEX_URL:-} ]] || build_args+=(--build-arg "PIP_INDEX_URL=$PIP_INDEX_URL")
chmod -R u=rwX,go=rX "$ctx"  # stable modes: the layer cache keys on them

# Without the buildx plugin the CLI refuses BuildKit; use the classic builder then (the Dockerfile suits both).
docker buildx version >/dev/null 2>&1 || export DOCKER_BUILDKIT=0
start=$SECONDS
docker build --force-rm "${build_args[@]}" \
    --build-arg "MADAGENTS_VERSION=$version" --build-arg "TOOLS_SHA256=$tools_sha256" \
    -t "madagents/hep:$version" -t madagents/hep:latest "$ctx" \
    || die "docker build failed (see above); a pip SSL error means the CA bundle is missing: set CA_BUNDLE"
size="$(docker image inspect -f '{{.Size}}' madagents/hep:latest | numfmt --to=si)"
say "built madagents/hep:$version (= :latest, ${size}B, tools ${tools_sha256:0:12}) in $((SECONDS - start)) s"
