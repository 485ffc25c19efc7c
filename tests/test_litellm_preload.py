"""`LiteLLMBackend` imports LiteLLM when it is built, not inside the first call.

The import takes 6-14 s here; inside the first call it would count against that attempt's
timeout, so an async route with a short attempt limit timed out and fell back on its very
first request in every new process. Checked in fresh interpreters (this test process has
long since imported LiteLLM), by whether `litellm` is loaded after the backend is built.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CHILD = """
import sys
from modelroute_litellm import LiteLLMBackend
assert "litellm" not in sys.modules, "importing the adapter must not import LiteLLM"
LiteLLMBackend(api_key="sk-local"{extra})
print("litellm" in sys.modules)
"""


@pytest.mark.parametrize(("extra", "loaded"), [("", "True"), (", preload=False", "False")])
def test_building_the_backend_imports_litellm_unless_deferred(extra: str, loaded: str) -> None:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(extra=extra)],
        capture_output=True,
        text=True,
        timeout=300,  # a bound on a hang: LiteLLM's import alone takes 6-14 s here
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == loaded
