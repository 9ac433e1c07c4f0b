# Shared by containers/*/build.sh (sourced): the version label, the tools/ hash and staging, the optional CA bundle.
# Expects $repo (the repository root) and a say() function.

# The version label: $MADAGENTS_VERSION, else pyproject.toml's.
image_version() {
    local version="${MADAGENTS_VERSION:-$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$repo/pyproject.toml" | sed -n 1p)}"
    [[ -n $version ]] || { echo "no 'version = \"...\"' line in $repo/pyproject.toml; set MADAGENTS_VERSION" >&2; return 1; }
    echo "$version"
}

# Label org.madagents.tools_sha256, as madagents.images.tools_sha256() computes it: the `sha256sum` listing of
# tools/*.py (paths relative to the repository root, sorted bytewise), hashed again. Exactly these files are staged.
tool_files() { (cd "$repo" && find tools -maxdepth 1 -type f -name '*.py' -print0 | LC_ALL=C sort -z); }
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
