"""Run the real `modelroute` entry point in a subprocess and read its one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys

# runs the real entry point; `block` makes the named package unimportable first
ENTRY = (
    "import sys\n"
    "for name in sys.argv[1].split(','):\n"
    "    if name: sys.modules[name] = None\n"
    "from modelroute.cli import main\n"
    "raise SystemExit(main(sys.argv[2:]))\n"
)


def modelroute(
    *args: str, block: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `modelroute ARGS` in a fresh interpreter (`block`: packages made missing,
    comma-separated; `env`: the environment, default ours with the bundled price map)."""
    if env is None:
        env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.run(
        [sys.executable, "-c", ENTRY, block, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def one_line_error(proc: subprocess.CompletedProcess[str], command: str) -> str:
    """The one stderr line of a command that failed with exit code 2 (no traceback)."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"modelroute {command}: error: ")
    return lines[0]
