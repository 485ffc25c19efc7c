"""The demo workload: read a workload YAML and check its shape before anything runs.

A workload names its `models` (a list of model names), its `requests` (each a mapping
with `route`, `prompt` and `answer` or per-model `answers`) and, optionally, the router
settings (`routes`, `rules`, `default_route`, `baseline`, `breaker`, `limits`), a
`simulation` section and JSON `schemas`. See the packaged `workload.yaml`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from modelroute.errors import ConfigError

PACKAGED = "workload.yaml"


def load_workload(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The workload YAML at `path` (the packaged one by default), checked.

    Raises `ConfigError` naming the file and the missing or bad key (e.g.
    `tiny.yaml: models: missing ...`), a YAML syntax error as `file:line:column`, or a
    file that cannot be read."""
    import yaml

    from modelroute.config import yaml_problem

    if path is None:
        name = PACKAGED
        text = resources.files("modelroute.demo").joinpath(PACKAGED).read_text("utf-8")
    else:
        name = os.fspath(path)
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise ConfigError(name, f"cannot read the workload: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(name, "the workload is not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(*yaml_problem(name, exc)) from None
    check_workload(data, name)
    workload: dict[str, Any] = data
    return workload


def check_workload(data: object, name: str = "workload") -> None:
    """Raise `ConfigError` (path `name: key`) unless `data` has the shape of a workload:
    a mapping with a non-empty `models` list of names and a non-empty `requests` list
    whose items each have `route`, `prompt` and `answer` (or `answers`)."""
    if not isinstance(data, Mapping):
        raise ConfigError(name, f"a workload is a mapping, got {type(data).__name__}")
    models = data.get("models")
    if "models" not in data:
        raise ConfigError(f"{name}: models", "missing: list the models, e.g. [gpt-4o-mini]")
    if not isinstance(models, list) or not models or not all(isinstance(m, str) for m in models):
        raise ConfigError(f"{name}: models", f"not a non-empty list of names: {models!r}")
    requests = data.get("requests")
    if "requests" not in data:
        raise ConfigError(f"{name}: requests", "missing: list the requests to route")
    if not isinstance(requests, list) or not requests:
        raise ConfigError(f"{name}: requests", f"not a non-empty list: {requests!r}")
    for i, item in enumerate(requests):
        path = f"{name}: requests[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigError(path, f"not a mapping: {item!r}")
        for key in ("route", "prompt"):
            if key not in item:
                raise ConfigError(f"{path}.{key}", "missing")
        if "answer" in item:
            continue
        answers = item.get("answers")
        lacking = [m for m in models if not isinstance(answers, Mapping) or m not in answers]
        if lacking:
            message = f"missing: give `answer`, or `answers` for every model (none for {lacking})"
            raise ConfigError(f"{path}.answer", message)
