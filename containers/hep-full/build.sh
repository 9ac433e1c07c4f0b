#!/usr/bin/env bash
# Build madagents/hep-full:<version> and :latest: the hep stack (madagents/hep-stack, built first by hep/build.sh,
# cached) plus MadGraph5_aMC@NLO and Delphes from the release tarballs in DIR, extra UFO models, and tools/.
#   --source DIR       MG5_aMC_v*.tar.gz and delphes-*.tar.gz (or Delphes-*.tar.gz), one each, and any *_UFO.tar.gz;
#                      `madagents images build hep-full` without --source downloads the official releases
#                      (pinned by sha256) and passes their directory here
#   --stage-only OUT   write the build context into the empty directory OUT and stop (no Docker needed)
#   --no-cache         rebuild every hep-full layer (passed to docker build)
#   CA_BUNDLE, MADAGENTS_VERSION as for hep/build.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
say() { echo "hep-full/build: $*"; }
die() { echo "hep-full/build: error: $*" >&2; exit 1; }
# shellcheck source=../lib/common.sh
source "$here/../lib/common.sh"

usage="usage: $0 --source DIR [--stage-only OUT] [--no-cache]"
source_dir="" stage_only="" build_args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --source) source_dir="${2:?$usage}"; shift 2 ;;
        --stage-only) stage_only="${2:?$usage}"; shift 2 ;;
        --no-cache) build_args+=(--no-cache); shift ;;
        -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "$usage" >&2; exit 2 ;;
    esac
done
[[ -n $source_dir ]] || die "no --source DIR: give the directory of the MG5 and Delphes tarballs"
[[ -d $source_dir ]] || die "--source $source_dir is not a directory"

# The one file of DIR matching the patterns, or an error naming what was found.
one_tarball() {
    local what="$1" found=()
    shift
    for pattern in "$@"; do
        for file in "$source_dir"/$pattern; do [[ -f $file ]] && found+=("$file"); done
    done
    [[ ${#found[@]} -eq 1 ]] || die "$source_dir needs exactly one $what tarball ($*), found ${#found[@]}"
    echo "${found[0]}"
}
mg5_tarball="$(one_tarball MG5 'MG5_aMC_v*.tar.gz')"
delphes_tarball="$(one_tarball Delphes 'delphes-*.tar.gz' 'Delphes-*.tar.gz')"
ufo_tarballs=()
for file in "$source_dir"/*_UFO.tar.gz; do [[ -f $file ]] && ufo_tarballs+=("$file"); done

version="$(image_version)" || die "no version"
tools_sha256="$(tools_hash)"
if [[ -n $stage_only ]]; then
    mkdir -p "$stage_only"; ctx="$(cd "$stage_only" && pwd)"
    [[ -z "$(ls -A "$ctx")" ]] || die "--stage-only $stage_only is not empty"
else
    ctx="$(mktemp -d "${TMPDIR:-/tmp}/madagents-hep-full-context.XXXXXX")"
    trap 'rm -rf "$ctx"' EXIT
fi
mkdir "$ctx/sources" "$ctx/ufo"
cp "$here/Dockerfile" "$here/setup-mg5.sh" "$ctx/"
# Fixed names inside the context: the COPY layers then key on the content alone.
cp "$mg5_tarball" "$ctx/sources/mg5.tar.gz"
cp "$delphes_tarball" "$ctx/sources/delphes.tar.gz"
[[ ${#ufo_tarballs[@]} -eq 0 ]] || cp "${ufo_tarballs[@]}" "$ctx/ufo/"
(cd "$source_dir" && sha256sum -- "$(basename "$mg5_tarball")" "$(basename "$delphes_tarball")" \
    "${ufo_tarballs[@]##*/}") > "$ctx/sources.sha256"
while read -r sum name; do say "source $name sha256 $sum"; done < "$ctx/sources.sha256"
sources_label="$(awk '{printf "%s%s=%s", (NR > 1 ? "," : ""), $2, $1}' "$ctx/sources.sha256")"
stage_ca "$ctx" || die "no CA bundle"
stage_tools "$ctx"
chmod -R u=rwX,go=rX "$ctx"  # stable modes: the layer cache keys on them
if [[ -n $stage_only ]]; then say "staged the build context in $ctx"; exit 0; fi

build_on_stack hep-full "$ctx" "${build_args[@]}" --build-arg "SOURCES_SHA256=$sources_label"
