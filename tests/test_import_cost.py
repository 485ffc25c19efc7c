"""`import modelroute` stays light: no frameworks, no heavy third-party modules."""

import json
import subprocess
import sys

HEAVY = ("litellm", "langchain_core", "opentelemetry", "pydantic", "yaml", "httpx", "aiohttp")


def _modules_after_import(stmt: str) -> list[str]:
    code = f"import sys, json; {stmt}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    loaded: list[str] = json.loads(out)
    return loaded


def test_import_modelroute_loads_no_framework_or_heavy_module() -> None:
    loaded = _modules_after_import("import modelroute")
    offending = [m for m in loaded if m.split(".")[0] in HEAVY]
    assert offending == []


def test_public_names_resolve_lazily() -> None:
    import modelroute

    for name in modelroute.__all__:
        assert getattr(modelroute, name) is not None, name


def test_all_matches_lazy_exports() -> None:
    import modelroute

    assert sorted(modelroute.__all__) == sorted(modelroute._EXPORTS)
