#!/usr/bin/env bash
# The end-to-end run: Phoenix + llama.cpp (SmolLM2) + pytest tests/e2e/, all inside ONE private
# network namespace (nothing is reachable from outside, nothing outside is reachable), and one
# PID namespace, so every process started here dies with it. Run scripts/e2e/setup.sh first.
#
#   bash scripts/e2e/run.sh [pytest args]     default: tests/e2e
#   e.g. bash scripts/e2e/run.sh tests/e2e -k litellm
#
# Environment: MODELROUTE_E2E_TIMEOUT (s, whole run, default 900), MODELROUTE_E2E_SCREENSHOT
# (write the Phoenix trace screenshot there too, e.g. docs/images/phoenix_trace.png).
# Server logs and the screenshot of the last run are kept in out/e2e/ (git-ignored).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${MODELROUTE_CACHE:-$HOME/.cache/modelroute}
LIMIT=${MODELROUTE_E2E_TIMEOUT:-900}

if [ "${1:-}" != "--inside" ]; then
  if [ ! -f "$CACHE/e2e/env" ]; then
    echo "no $CACHE/e2e/env: run 'bash scripts/e2e/setup.sh' first" >&2
    exit 1
  fi
  userns=()
  [ "$(id -u)" = 0 ] || userns=(--map-root-user)
  # --pid --fork --kill-child: bash below is PID 1 of a new PID namespace; if it dies (even
  # by SIGKILL from `timeout`), the kernel kills every process left in the namespace.
  exec timeout --kill-after=20 "$LIMIT" \
    unshare "${userns[@]}" --net --pid --fork --kill-child --mount-proc \
    bash "$HERE/run.sh" --inside "$@"
fi
shift

# ---- inside the namespaces ------------------------------------------------------------
ip link set lo up
# shellcheck source=/dev/null
. "$CACHE/e2e/env" # PHOENIX_VENV, LLAMA_VENV, GGUF
PY=$ROOT/.venv/bin/python
OUT=$ROOT/out/e2e
rm -rf "$OUT"
mkdir -p "$OUT"
WORK=$(mktemp -d)
PHOENIX_PORT=6006 # fixed ports are safe: this network namespace is empty
PHOENIX_GRPC_PORT=4317
LLAMA_PORT=8089
started=$SECONDS
log() { printf '[e2e run %3d s] %s\n' $((SECONDS - started)) "$*" >&2; }

pids=()
# shellcheck disable=SC2329 # invoked by the EXIT trap
stop_all() {
  local status=$?
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do # up to 5 s for a clean exit, then SIGKILL
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  if [ "$status" != 0 ]; then
    for f in "$OUT"/*.log; do
      [ -f "$f" ] || continue
      echo "---- last lines of $f" >&2
      tail -n 25 "$f" >&2
    done
  fi
  rm -rf "$WORK"
  log "stopped (exit $status)"
  exit "$status"
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_http NAME URL PID SECONDS: poll until URL answers 200, the process dies, or time is up.
wait_http() {
  local name=$1 url=$2 pid=$3 deadline=$((SECONDS + $4))
  while [ $SECONDS -lt $deadline ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name exited before it was ready (see $OUT)" >&2
      return 1
    fi
    if "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
      "$url" 2>/dev/null; then
      log "$name ready"
      return 0
    fi
    sleep 0.5
  done
  echo "$name not ready after $4 s" >&2
  return 1
}

PHOENIX_HOST=127.0.0.1 PHOENIX_PORT=$PHOENIX_PORT PHOENIX_GRPC_PORT=$PHOENIX_GRPC_PORT \
  PHOENIX_TELEMETRY_ENABLED=false PHOENIX_WORKING_DIR=$WORK/phoenix \
  "$PHOENIX_VENV/bin/phoenix" serve >"$OUT/phoenix.log" 2>&1 &
pids+=($!)
phoenix_pid=$!
"$LLAMA_VENV/bin/python" -m llama_cpp.server --model "$GGUF" --host 127.0.0.1 \
  --port "$LLAMA_PORT" --n_threads 1 --n_threads_batch 1 --n_ctx 2048 \
  >"$OUT/llama.log" 2>&1 &
pids+=($!)
llama_pid=$!
log "started phoenix (pid $phoenix_pid) and llama.cpp (pid $llama_pid)"

wait_http llama.cpp "http://127.0.0.1:$LLAMA_PORT/v1/models" "$llama_pid" 120
wait_http phoenix "http://127.0.0.1:$PHOENIX_PORT/readyz" "$phoenix_pid" 300

export MODELROUTE_E2E=1
export MODELROUTE_E2E_PHOENIX_URL=http://127.0.0.1:$PHOENIX_PORT
export MODELROUTE_E2E_PHOENIX_GRPC=http://127.0.0.1:$PHOENIX_GRPC_PORT
export MODELROUTE_E2E_LLAMA_URL=http://127.0.0.1:$LLAMA_PORT/v1
export MODELROUTE_E2E_OUT=$OUT
export LITELLM_LOCAL_MODEL_COST_MAP=True HF_HUB_OFFLINE=1 PYTHONPATH=
cd "$ROOT"
# pytest in the background so the TERM trap above can run while it does (bounded by LIMIT).
[ $# -gt 0 ] || set -- tests/e2e
"$PY" -m pytest -rs "$@" &
pids+=($!)
status=0
wait "$!" || status=$?
log "pytest exit $status"
exit "$status"
