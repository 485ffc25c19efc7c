"""`modelroute demo` without the `litellm` extra: one line on stderr naming the extra to
install, exit code 2, nothing written (the real entry point, LiteLLM made unimportable)."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import modelroute, one_line_error


def test_demo_without_litellm_names_the_extra(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = modelroute("demo", "--out", str(out), block="litellm")
    line = one_line_error(proc, "demo")
    assert line == (
        "modelroute demo: error: LiteLLM is not installed: pip install 'modelroute[litellm]'"
    )
    assert proc.stdout == ""
    assert not out.exists()  # refused before any work


def test_demo_with_a_broken_litellm_adapter_names_the_extra(tmp_path: Path) -> None:
    # the adapter cannot be imported: the same one line, with the cause, before any output
    proc = modelroute("demo", "--out", str(tmp_path / "demo"), block="modelroute_litellm.tokens")
    line = one_line_error(proc, "demo")
    assert line.startswith("modelroute demo: error: LiteLLM cannot be imported (")
    assert line.endswith(": pip install 'modelroute[litellm]'")
