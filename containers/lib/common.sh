# Shared by containers/*/build.sh (sourced): the version label, the tools/ hash and staging, the optional CA bundle.
# Expects $repo (the repository root) and a say() function.

# The version label: $MADAGENTS_VERSION, else pyproject.toml's.
image_version() {
    local version="${MADAGENTS_VERSION:-$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$repo/pyproject.toml" | sed -n 1p)}"
    [[ -n $version ]] || { echo "no 'version = \"...\"' line in $repo/pyproject.toml; set MADAGENTS_VERSION" >&2; return 1; }
    echo "$version"
}

# Label org.madagents.tools_sha256, as madagents.images.tools_sha256() computes it: the `sha256sum` listing of
# tools/**/*.py (paths relative to the repository root, sorted bytewise), hashed again. Exactly these files are staged.
tool_files() { (cd "$repo" && find tools -type f -name '*.py' -print0 | LC_ALL=C sort -z); }
tools_hash() { tool_files | (cd "$repo" && xargs -0 sha256sum) | sha256sum | cut -d' ' -f1; }
stage_tools() { tool_files | tar -C "$repo" --null -T - -c | tar -C "$1" -x; }

# ca/ca-certificates.crt in context $1: pip in the build needs it where HTTPS goes through a re-signing proxy.
# CA_BUNDLE=file picks one, CA_BUNDLE= builds without; default $PIP_CERT, else the Debian bundle when readable.
stage_ca() {
    local default_ca=/etc/ssl/certs/ca-certificates.crt
    local ca="${CA_BUNDLE-${PIP_CERT:-$default_ca}}"
    mkdir -p "$1/ca"
    if [[ -n $ca && -r $ca ]]; then
        cp "$ca" "$1/ca/ca-certificates.crt"
        say "pip in the build trusts the CA bundle $ca"
    elif [[ -n $ca && $ca != "$default_ca" ]]; then
        echo "CA bundle $ca (CA_BUNDLE or PIP_CERT) is not readable; set CA_BUNDLE='' to build without one" >&2
        return 1
    fi
}

# Without the buildx plugin the CLI refuses BuildKit; use the classic builder then (the Dockerfiles suit both).
use_available_builder() { docker buildx version >/dev/null 2>&1 || export DOCKER_BUILDKIT=0; }

# build_on_stack NAME CONTEXT [docker build options...]: madagents/NAME:$version and :latest from CONTEXT, on the
# hep stack (built or taken from its cache first). Needs $here, $version, $tools_sha256 and say/die of the caller.
build_on_stack() {
    local name="$1" ctx="$2" start size
    shift 2
    docker info >/dev/null 2>&1 || die "no Docker daemon answers: run containers/install-docker.sh first"
    "$here/../hep/build.sh"  # madagents/hep-stack:$version, from its cache unless the stack changed
    use_available_builder
    start=$SECONDS
    docker build --force-rm "$@" --build-arg "HEP_STACK=madagents/hep-stack:$version" \
        --build-arg "MADAGENTS_VERSION=$version" --build-arg "TOOLS_SHA256=$tools_sha256" \
        -t "madagents/$name:$version" -t "madagents/$name:latest" "$ctx" \
        || die "docker build failed (see above); a pip SSL error means the CA bundle is missing: set CA_BUNDLE"
    size="$(docker image inspect -f '{{.Size}}' "madagents/$name:latest" | numfmt --to=si)"
    say "built madagents/$name:$version (= :latest, ${size}B, tools ${tools_sha256:0:12}) in $((SECONDS - start)) s"
}
