#!/usr/bin/env bash
# Prepares /opt/MG5_aMC in the hep-full build so that MG5 never writes into its installation at run time (the sandbox
# runs as uid 1000 on a read-only root file system). MG5 otherwise writes on first use: its configuration file,
# each model's model.pkl, Python bytecode, and converted Python-2 UFO models.
#   setup-mg5.sh configure      configuration (no update check, no browser) and the sm model with every restriction
#   setup-mg5.sh models DIR     unpack DIR/*_UFO.tar.gz into models/, convert Python-2 ones, import each
#   setup-mg5.sh check          as the sandbox user: generate + output + a tiny launch elsewhere, installation intact
set -euo pipefail

mg5=/opt/MG5_aMC
models_list=/opt/madagents/mg5-models.txt
die() { echo "setup-mg5: error: $*" >&2; exit 1; }

# Runs MG5 on the commands given as arguments; MG5 may exit 0 after a failed command, so its output is read too.
mg5_run() {
    local script log
    script="$(mktemp)"; log="$(mktemp)"
    printf '%s\n' "$@" > "$script"
    "$mg5/bin/mg5_aMC" "$script" > "$log" 2>&1 || { cat "$log"; die "mg5_aMC failed on: $*"; }
    if grep -qE "interrupted with error|^ERROR|[Ee]rror detected" "$log"; then
        cat "$log"; die "MG5 reported an error on: $*"
    fi
    rm -f "$script" "$log"
}

# Every model of models_list, and each of its restrictions (restrict_<r>.dat gives NAME-<r>), imported once so that
# model.pkl is written now.
import_models() {
    local name restriction commands=()
    for name in "$@"; do
        commands+=("import model $name")
        for restriction in "$mg5/models/$name"/restrict_*.dat; do
            [[ -e $restriction ]] || continue
            restriction="$(basename "$restriction" .dat)"; restriction="${restriction#restrict_}"
            [[ $restriction == default ]] || commands+=("import model $name-$restriction")
        done
    done
    mg5_run "set auto_convert_model True --no_save" "${commands[@]}"
}

configure() {
    # `set` without --no_save writes input/mg5_configuration.txt: wanted here, once, at build time.
    mg5_run "set auto_update 0" "set automatic_html_opening False" "set notification_center False"
    grep -q "^ *auto_update *= *0" "$mg5/input/mg5_configuration.txt" || die "auto_update not saved"
    echo sm > "$models_list"
    import_models sm
    /opt/venv/bin/python -m compileall -q "$mg5" >/dev/null || true  # Python-2 files in some models do not compile
}

add_models() {
    local tarball name added=()
    for tarball in "$1"/*_UFO.tar.gz; do
        [[ -e $tarball ]] || continue
        name="$(tar -tzf "$tarball" | head -n1 | cut -d/ -f1)"
        [[ -n $name && $name != . ]] || die "$(basename "$tarball") does not unpack into one directory"
        [[ ! -e $mg5/models/$name ]] || die "$(basename "$tarball"): models/$name exists already"
        tar -xzf "$tarball" -C "$mg5/models" --no-same-owner
        [[ -f $mg5/models/$name/particles.py ]] || die "$(basename "$tarball"): models/$name holds no UFO (particles.py)"
        added+=("$name")
    done
    [[ ${#added[@]} -gt 0 ]] || { echo "setup-mg5: no extra UFO models"; return 0; }
    import_models "${added[@]}"
    printf '%s\n' "${added[@]}" >> "$models_list"
    /opt/venv/bin/python -m compileall -q "$mg5/models" >/dev/null || true
    echo "setup-mg5: added ${added[*]}"
}

check() {
    local marker=/tmp/mg5-check.start changed
    touch "$marker"; sleep 1
    cd /tmp
    mapfile -t models < "$models_list"
    local commands=()
    for name in "${models[@]}"; do commands+=("import model $name"); done
    mg5_run "${commands[@]}" "import model sm" "generate p p > mu+ mu-" "output /tmp/check_pp" \
        "launch /tmp/check_pp" "done" "set nevents 100" "set iseed 1" "done"
    ls /tmp/check_pp/Events/run_01/unweighted_events.lhe.gz >/dev/null || die "the check launch wrote no events"
    changed="$(find "$mg5" -newer "$marker" -print | head -n 20)"
    [[ -z $changed ]] || die "MG5 wrote into its installation: $changed"
    rm -rf /tmp/check_pp /tmp/* /tmp/.[!.]* 2>/dev/null || true
    echo "setup-mg5: check passed (uid $(id -u), installation unchanged)"
}

case "${1:-}" in
    configure) configure ;;
    models) add_models "${2:?models DIR}" ;;
    check) check ;;
    *) die "usage: $0 configure | models DIR | check" ;;
esac
