"""The LiteLLM proxy's own venv: `litellm[proxy]==1.108.0` (the only version whose proxy extra
resolves here, see ../shared/design/FACTS.md), kept outside the clone and reused.

`ensure_proxy_venv()` creates it once (about 40 s with a warm uv cache, 1.6 min cold) and
afterwards returns at once: a stamp file names what was installed, a file lock keeps two
test runs from building it together. `python tests/litellm_proxy_venv.py` does the same from
a Makefile target. The venv holds only LiteLLM: modelroute reaches the proxy on `PYTHONPATH`.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

REQUIREMENT = "litellm[proxy]==1.108.0"
DEFAULT_VENV = "~/.cache/modelroute/litellm-proxy-venv"


class ProxyVenvError(RuntimeError):
    """Building the proxy venv failed; the message has the failing command and its output."""


def venv_path() -> Path:
    """`MODELROUTE_PROXY_VENV`, else ~/.cache/modelroute/litellm-proxy-venv."""
    return Path(os.environ.get("MODELROUTE_PROXY_VENV", DEFAULT_VENV)).expanduser()


def _run(cmd: list[str], env: dict[str, str], timeout: float) -> None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr)[-3000:]
        raise ProxyVenvError(f"{' '.join(cmd)} exited {proc.returncode}:\n{output}")


def _build(venv: Path, timeout: float) -> None:
    env = dict(os.environ)
    env.setdefault("UV_CACHE_DIR", str(Path("~/.cache/modelroute/uv").expanduser()))
    python = str(venv / "bin" / "python")
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is not None:
        _run([uv, "venv", "-q", "--python", sys.executable, str(venv)], env, timeout)
        install = [uv, "pip", "install", "-q", "--python", python, "--compile-bytecode"]
        _run([*install, REQUIREMENT], env, timeout)
    else:
        _run([sys.executable, "-m", "venv", str(venv)], env, timeout)
        _run([python, "-m", "pip", "install", "-q", REQUIREMENT], env, timeout)
        _run([python, "-m", "compileall", "-q", str(venv / "lib")], env, timeout)


def ensure_proxy_venv(timeout: float = 900.0) -> Path:
    """The proxy venv, built if missing or stale; returns its path. Raises ProxyVenvError."""
    venv = venv_path()
    venv.parent.mkdir(parents=True, exist_ok=True)
    stamp = venv / ".modelroute-installed"
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ready = (venv / "bin" / "litellm").exists() and stamp.exists()
        if ready and stamp.read_text(encoding="utf-8") == REQUIREMENT:
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        _build(venv, timeout)
        stamp.write_text(REQUIREMENT, encoding="utf-8")
    return venv


if __name__ == "__main__":
    print(ensure_proxy_venv())
