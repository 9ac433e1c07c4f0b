#!/usr/bin/env bash
# Prepares /opt/MG5_aMC in the hep-full build so that MG5 never writes into its installation at run time (the sandbox
# runs as uid 1000 on a read-only root file system). MG5 otherwise writes on first use: its configuration file,
# each model's model.pkl, Python bytecode, and converted Python-2 UFO models.
#   setup-mg5.sh configure      configuration (no update check, no browser) and the sm model with every restriction
#   setup-mg5.sh models DIR     unpack DIR/*_UFO.tar.gz into models/, convert Python-2 ones, import each
#   setup-mg5.sh check          as the sandbox user: generate + output + a tiny launch elsewhere, installation intact
set -euo pipefail

# Overridable to try this script on an unpacked MG5 outside the image.
mg5="${MG5_PATH:-/opt/MG5_aMC}"
models_list="${MG5_MODELS_LIST:-/opt/madagents/mg5-models.txt}"
python="${PYTHON:-/opt/venv/bin/python}"
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
    # Written into input/mg5_configuration.txt here, once. `set` saves MG5's own options (auto_update) but not the
    # run options, and `save options` would write every unset *_path as <MG5>/None: those two are edited in place.
    mg5_run "set auto_update 0"
    sed -i -E -e 's/^#? *automatic_html_opening *=.*/automatic_html_opening = False/' \
        -e 's/^#? *notification_center *=.*/notification_center = False/' "$mg5/input/mg5_configuration.txt"
    grep -q "^ *auto_update *= *0" "$mg5/input/mg5_configuration.txt" || die "auto_update not saved"
    grep -q "^ *automatic_html_opening *= *False" "$mg5/input/mg5_configuration.txt" || die "html opening not saved"
    echo sm > "$models_list"
    import_models sm
    "$python" -m compileall -q "$mg5" >/dev/null || true  # Python-2 files in some models do not compile
}

add_models() {
    local tarball name added=()
    for tarball in "$1"/*_UFO.tar.gz; do
        [[ -e $tarball ]] || continue
        name="$(tar -tzf "$tarball" | awk -F/ 'NR == 1 { print $1 }')"  # awk: head would cut the pipe
        [[ -n $name && $name != . ]] || die "$(basename "$tarball") does not unpack into one directory"
        [[ ! -e $mg5/models/$name ]] || die "$(basename "$tarball"): models/$name exists already"
        tar -xzf "$tarball" -C "$mg5/models" --no-same-owner
        [[ -f $mg5/models/$name/particles.py ]] || die "$(basename "$tarball"): models/$name holds no UFO (particles.py)"
        added+=("$name")
    done
    [[ ${#added[@]} -gt 0 ]] || { echo "setup-mg5: no extra UFO models"; return 0; }
    import_models "${added[@]}"
    printf '%s\n' "${added[@]}" >> "$models_list"
    "$python" -m compileall -q "$mg5/models" >/dev/null || true
    echo "setup-mg5: added ${added[*]}"
}

check() {
    local work marker changed name commands=()
    work="$(mktemp -d)"; marker="$work/start"
    touch "$marker"; sleep 1
    mapfile -t models < "$models_list"
    for name in "${models[@]}"; do commands+=("import model $name"); done
    # HOME too: MG5 keeps its history in ~/.mg5
    (cd "$work" && HOME="$work" mg5_run "${commands[@]}" "import model sm" "generate p p > mu+ mu-" \
        "output $work/check_pp" "launch $work/check_pp" "done" "set nevents 100" "set iseed 1" "done")
    [[ -f $work/check_pp/Events/run_01/unweighted_events.lhe.gz ]] || die "the check launch wrote no events"
    changed="$(find "$mg5" -newer "$marker" -print | awk 'NR <= 20')"
    [[ -z $changed ]] || die "MG5 wrote into its installation: $changed"
    rm -rf "$work"
    echo "setup-mg5: check passed (uid $(id -u), installation unchanged)"
}

case "${1:-}" in
    configure) configure ;;
    models) add_models "${2:?models DIR}" ;;
    check) check ;;
    *) die "usage: $0 configure | models DIR | check" ;;
esac
