#!/usr/bin/env bash
# Build madagents/ml:<version> and :latest: the hep stack (madagents/hep-stack, built first by hep/build.sh, cached)
# plus CPU torch 2.13.0, ufoamp and ufo-sm (the pins of pyproject.toml's `ml` extra), and tools/.
#   TORCH_WHEEL        the CPU torch wheel to install (torch-2.13.0+cpu-cp311-...whl). Default: the file this
#                      machine's pip takes for torch==2.13.0 from its own configuration (find-links), never
#                      downloaded: on PyPI that pin is a multi-GB CUDA build
#   --stage-only OUT   write the build context into the empty directory OUT and stop (no Docker needed)
#   --no-cache         rebuild every ml layer (passed to docker build)
#   CA_BUNDLE, MADAGENTS_VERSION, PYTHON (the interpreter whose pip is asked; python3) as for hep/build.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
say() { echo "ml/build: $*"; }
die() { echo "ml/build: error: $*" >&2; exit 1; }
# shellcheck source=../lib/common.sh
source "$here/../lib/common.sh"

usage="usage: $0 [--stage-only OUT] [--no-cache]"
stage_only="" build_args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --stage-only) stage_only="${2:?$usage}"; shift 2 ;;
        --no-cache) build_args+=(--no-cache); shift ;;
        -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "$usage" >&2; exit 2 ;;
    esac
done
python="${PYTHON:-python3}"
torch_help="give the CPU wheel as TORCH_WHEEL=/path/to/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl \
(PyTorch publishes it on its CPU wheel index; \`pip download torch==2.13.0+cpu\` from there fetches it)"

# pyproject.toml's ml extra without torch, which comes from the wheel.
ml_requirements() {
    "$python" - "$repo/pyproject.toml" <<'PY'
import sys, tomllib
extra = tomllib.load(open(sys.argv[1], "rb"))["project"]["optional-dependencies"]["ml"]
print("\n".join(pin for pin in extra if not pin.startswith("torch")))
PY
}

# The CPU wheel: TORCH_WHEEL, else what pip here would install for torch==2.13.0 without any index (--no-index:
# only the find-links of its configuration), so that nothing is downloaded.
find_torch_wheel() {
    local out="$1" wheel
    if [[ -n ${TORCH_WHEEL:-} ]]; then
        [[ -f $TORCH_WHEEL ]] || die "TORCH_WHEEL=$TORCH_WHEEL is not a file"
        cp "$TORCH_WHEEL" "$out/"
    elif ! "$python" -m pip download --quiet --no-deps --no-index --only-binary :all: -d "$out" torch==2.13.0 \
            >/dev/null 2>&1; then
        die "no torch 2.13.0 wheel on this machine for pip ($python -m pip download --no-index finds none); $torch_help"
    fi
    wheel="$(cd "$out" && ls torch-2.13.0*.whl 2>/dev/null | head -n1)"
    [[ -n $wheel ]] || die "no torch-2.13.0*.whl staged; $torch_help"
    [[ $wheel == *+cpu-cp311-* ]] || die "$wheel is not the CPU build for CPython 3.11 (the image's Python); $torch_help"
    say "torch from $wheel"
}

version="$(image_version)" || die "no version"
tools_sha256="$(tools_hash)"
if [[ -n $stage_only ]]; then
    mkdir -p "$stage_only"; ctx="$(cd "$stage_only" && pwd)"
    [[ -z "$(ls -A "$ctx")" ]] || die "--stage-only $stage_only is not empty"
else
    ctx="$(mktemp -d "${TMPDIR:-/tmp}/madagents-ml-context.XXXXXX")"
    trap 'rm -rf "$ctx"' EXIT
fi
mkdir "$ctx/wheels"
cp "$here/Dockerfile" "$ctx/"
find_torch_wheel "$ctx/wheels"
ml_requirements > "$ctx/ml-requirements.txt"
stage_ca "$ctx" || die "no CA bundle"
stage_tools "$ctx"
chmod -R u=rwX,go=rX "$ctx"  # stable modes: the layer cache keys on them
if [[ -n $stage_only ]]; then say "staged the build context in $ctx"; exit 0; fi

build_on_stack ml "$ctx" "${build_args[@]}"
