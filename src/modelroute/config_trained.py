"""The `trained` strategy of a route config: load the router file, match its models.

A trained router knows models by the names in its training data (e.g. RouterBench's
`gpt-4-1106-preview`); a route names them by their config names. `trained_names` matches
them (config name first, then `target`, `from_litellm`, `target` without its provider
segment, its last segment) and `trained_strategy` wraps a classifier router in a
`RenamedStrategy` when they differ. A cascade file (`modelroute train --kind cascade`)
becomes a `LearnedCascade` told the names itself (it also judges answers, in the
router's names).

Loading a config checks every route (which loads the file) and then builds the routes
(which needs it again): `_load` remembers the last few files by path, size and
modification time, so each file is unpickled once. A `TrainedRouter` or `LearnedCascade`
is read-only, so routes may share one.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from modelroute.errors import ConfigError
from modelroute.strategies.base import Strategy
from modelroute.strategies.renamed import RenamedStrategy

if TYPE_CHECKING:
    from modelroute.config_schema import ModelConfig, StrategyConfig
    from modelroute.strategies.learned_cascade import LearnedCascade
    from modelroute.strategies.trained import TrainedRouter


def trained_names(
    models: Sequence[str], known: Sequence[str], model_configs: Mapping[str, ModelConfig]
) -> dict[str, str]:
    """The name a trained router knows each route model by, for route models it knows.

    The config name wins; then the model's `target`, its `from_litellm` name, its
    `target` without the first (provider) segment (`openai/zero-one-ai/Yi-34B-Chat` ->
    `zero-one-ai/Yi-34B-Chat`, as RouterBench names it), and the target's last segment
    (`openai/gpt-4o` -> `gpt-4o`). A name that is itself a route model's config name is
    not borrowed by another model."""
    known_set, taken = set(known), set(models)
    names: dict[str, str] = {}
    for model in models:
        mc = model_configs.get(model)
        target = mc.target if mc is not None else None
        options = [model]
        if target:
            options.append(target)
        if mc is not None and mc.from_litellm:
            options.append(mc.from_litellm)
        if target and "/" in target:
            options += [target.split("/", 1)[1], target.rsplit("/", 1)[1]]
        for name in options:
            if name in known_set and (name == model or name not in taken):
                names[model] = name
                taken.add(name)
                break
    return names


def trained_strategy(
    sc: StrategyConfig, path: str, models: Sequence[str], model_configs: Mapping[str, ModelConfig]
) -> Strategy:
    """Load a trained router file (a classifier or a cascade); every failure is a
    `ConfigError` naming `path`."""
    assert sc.path is not None  # StrategyConfig requires it
    try:
        stat = os.stat(sc.path)
        strategy = _load(os.path.abspath(sc.path), stat.st_size, stat.st_mtime_ns, sc.lam)
    except ImportError as exc:
        if exc.name is not None and exc.name.split(".")[0] in ("numpy", "sklearn", "scipy"):
            message = "the trained strategy needs the `ml` extra: pip install 'modelroute[ml]'"
            raise ConfigError(path, message) from None
        raise ConfigError(path, f"cannot load router file {sc.path!r}: {exc}") from None
    except Exception as exc:  # unreadable, corrupt or foreign file: a config problem
        raise ConfigError(path, f"cannot load router file {sc.path!r}: {exc}") from None
    from modelroute.strategies.learned_cascade import LearnedCascade

    if isinstance(strategy, LearnedCascade):
        cascade, known, called = strategy, strategy.models, strategy.needed_models
    else:
        cascade, known = None, strategy.classifier.models
        called = known
    names = trained_names(models, known, model_configs)
    if models and not names:
        what = (
            f"the cascade calls {list(called)} (its plans' stages and its baseline)"
            if cascade is not None
            else f"the router knows {list(called)}"
        )
        message = (
            f"{what}, none of the route's models {list(models)} (a route model matches by "
            "its config name, `target` or `from_litellm`: "
            f"e.g. `{models[0]}: {{target: {called[0]}}}`)"
        )
        raise ConfigError(path, message)
    if cascade is not None:
        missing = [m for m in cascade.needed_models if m not in names.values()]
        if missing:
            message = (
                f"the cascade calls {missing}, which match none of the route's models "
                f"{list(models)} (its plans' stages and its baseline, for unseen tasks, must "
                "be route models, by config name, `target` or `from_litellm`)"
            )
            raise ConfigError(path, message)
        if any(config != name for config, name in names.items()):
            return cascade.renamed(names)
        return cascade
    if all(config == name for config, name in names.items()):
        return strategy
    return RenamedStrategy(strategy, names)


@functools.lru_cache(maxsize=4)
def _load(path: str, size: int, mtime_ns: int, lam: float | None) -> TrainedRouter | LearnedCascade:
    """The router file at `path` as a strategy (`TrainedRouter` for a classifier,
    `LearnedCascade` for a cascade, at price `lam`), remembered while the file is unchanged
    (`size` and `mtime_ns` are part of the key only so that a rewritten file is loaded
    again)."""
    from modelroute.offline.artifact import read_header
    from modelroute.strategies.learned_cascade import LearnedCascade
    from modelroute.strategies.trained import TrainedRouter

    if read_header(path).get("kind") == "cascade":  # the header is read without unpickling
        return LearnedCascade.load(path, lam)
    return TrainedRouter.load(path, lam)
