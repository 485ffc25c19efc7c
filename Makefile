# modelroute developer commands. `make demo` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CACHE := $(HOME)/.cache/modelroute
STAMP := $(VENV)/.installed-$(shell cat constraints.txt pyproject.toml | sha256sum | cut -c1-16)

# Offline traps (../shared/design/FACTS.md): LiteLLM's bundled price map, no hub lookups.
export LITELLM_LOCAL_MODEL_COST_MAP := True
export HF_HUB_OFFLINE := 1
export UV_CACHE_DIR := $(CACHE)/uv
export MYPY_CACHE_DIR := $(CACHE)/mypy
export PYTHONPATH :=

.PHONY: install sysdeps demo test lint typecheck unit bench e2e clean

install: $(STAMP)

# System packages the tests use (a real redis-server; Chromium renders the HTML report).
SYSDEPS := redis-server:redis-server chromium:chromium
sysdeps:
	@missing=""; for pair in $(SYSDEPS); do cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

$(STAMP): constraints.txt pyproject.toml
	@mkdir -p $(CACHE)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@test -x $(VENV)/bin/uv || $(VENV)/bin/pip install -q --disable-pip-version-check uv==0.13.9 2>&1 | grep -v "Location '" || true
	$(VENV)/bin/uv pip install -q --python $(PY) --compile-bytecode -c constraints.txt -e '.[all]' --group dev
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: install
	$(VENV)/bin/modelroute demo

lint: install
	$(VENV)/bin/ruff check src integrations tests bench
	$(VENV)/bin/ruff format --check src integrations tests bench

typecheck: install
	$(VENV)/bin/mypy

unit: install sysdeps
	$(PY) -m pytest

test: lint typecheck unit

bench: install
	$(PY) -m bench.run

# End to end: Phoenix reads back real traces; one tier is a real local LLM (SmolLM2 on
# llama.cpp). Installs are cached under ~/.cache/modelroute (cold: ~15 min, warm: <1 s);
# the run (~1 min) happens inside a private network namespace (scripts/e2e/run.sh).
e2e: install sysdeps
	bash scripts/e2e/setup.sh
	bash scripts/e2e/run.sh

clean:
	rm -rf $(VENV)
