"""Every ```python block in docs/*.md runs on its own from the project root."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _blocks() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted((ROOT / "docs").glob("*.md")):
        for i, match in enumerate(BLOCK.finditer(path.read_text(encoding="utf-8"))):
            found.append((path.name, i, match.group(1)))
    return found


BLOCKS = _blocks()


def test_docs_have_python_examples() -> None:
    assert any(name == "quickstart.md" for name, _, _ in BLOCKS)


@pytest.mark.parametrize(("name", "index", "code"), BLOCKS, ids=[f"{n}[{i}]" for n, i, _ in BLOCKS])
def test_doc_block_runs(name: str, index: int, code: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update({"LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1"})
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, f"{name} block {index} failed:\n{proc.stderr[-3000:]}"
