"""The YAML configuration: models, routes, policies, baseline, breaker, decision log.

Validated with pydantic into the core objects. Every error is a `ConfigError` naming
the exact path and value, e.g. `routes.summarize.fallbacks[1]: unknown model 'gpt-5o'`.
Prices in config are USD per 1M tokens (the unit providers publish).

This module reads and validates a config (`load_config`), checks its cross-references
(`check_config`) and builds a `Router` from it (`build_router`). The pydantic schema lives
in `modelroute.config_schema`, the builders of the core objects in `modelroute.config_build`;
their public names are re-exported here.
"""

from __future__ import annotations

import os
import typing
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from modelroute.breaker import BreakerConfig
from modelroute.catalog import litellm_model_map
from modelroute.config_build import (
    _route_problems,
    _rule,
    build_catalog,
    build_routes,
    build_rules,
    build_strategy,
    user_redaction,
)
from modelroute.config_check import (
    ConfigProblem,
    InvalidConfig,
    breaker_problems,
    chain_problems,
    decode_utf8,
    overflow_cycles,
    route_ref_problems,
    schema_problems,
    suggestion,
)
from modelroute.config_schema import (
    BackoffConfig,
    BreakerSettings,
    ModelConfig,
    RouteConfig,
    RouterConfig,
    RuleConfig,
    ShadowConfig,
    StrategyConfig,
    Supports,
    TimeoutsConfig,
    VerifierConfig,
)
from modelroute.errors import ConfigError
from modelroute.strategies.latency import LatencyTracker

if TYPE_CHECKING:
    from modelroute.backend import Backend
    from modelroute.clock import Clock
    from modelroute.guards import AttemptGuard
    from modelroute.router import Router
    from modelroute.sinks import Sink

__all__ = [
    "BackoffConfig",
    "BreakerSettings",
    "ConfigProblem",
    "InvalidConfig",
    "ModelConfig",
    "RouteConfig",
    "RouterConfig",
    "RuleConfig",
    "ShadowConfig",
    "StrategyConfig",
    "Supports",
    "TimeoutsConfig",
    "VerifierConfig",
    "build_catalog",
    "build_router",
    "build_routes",
    "build_rules",
    "build_strategy",
    "check_config",
    "load_config",
    "user_redaction",
    "yaml_problem",
]


def load_config(source: str | os.PathLike[str] | Mapping[str, Any] | RouterConfig) -> RouterConfig:
    """Parse and validate a config from a YAML or JSON path (`.json`), a dict or a `RouterConfig`.

    Relative file paths in a config file (`decision_log`, a trained strategy's `path`) are
    made absolute against the file's folder; in a dict they stay relative to the working
    directory.

    Raises `InvalidConfig` (a `ConfigError`) listing every schema problem with its path,
    e.g. `routes.default.retries`; a misspelled key gets a suggestion.
    """
    if isinstance(source, RouterConfig):
        return source
    if isinstance(source, Mapping):
        data: Any = source
    else:
        data = _read_file(source)
    if not isinstance(data, Mapping):
        raise ConfigError("", f"config must be a mapping, got {type(data).__name__}")
    context = _context(source)
    try:
        cfg = RouterConfig.model_validate(data, context=context)
    except ValidationError as exc:
        raise InvalidConfig(schema_problems(exc, _config_keys(RouterConfig))) from None
    base = context.get("base_dir")
    if base is not None and cfg.decision_log and not os.path.isabs(cfg.decision_log):
        cfg = cfg.model_copy(update={"decision_log": os.path.join(base, cfg.decision_log)})
    return cfg


def _context(source: object) -> dict[str, Any]:
    """Validation context: relative file paths in a config file are relative to its folder."""
    if isinstance(source, str | os.PathLike):
        return {"base_dir": os.path.dirname(os.path.abspath(source))}
    return {}


def _read_file(source: str | os.PathLike[str]) -> Any:
    import json

    import yaml

    with open(source, "rb") as fh:
        text = decode_utf8(fh.read(), os.fspath(source))
    if os.fspath(source).endswith(".json"):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ConfigError(os.fspath(source), f"invalid JSON: {exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(*yaml_problem(os.fspath(source), exc)) from None


def yaml_problem(name: str, exc: Exception) -> tuple[str, str]:
    """A YAML syntax error as (`file:line:column`, one-line problem), 1-based like editors;
    just (`file`, message) when the error carries no position."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
    message = " ".join(message.split())
    if mark is None:
        return name, message
    return f"{name}:{mark.line + 1}:{mark.column + 1}", message


def _config_keys(model: type[BaseModel]) -> set[str]:
    """Every key a config section of `model` may hold, nested sections included."""
    keys = set(model.model_fields)
    stack = [f.annotation for f in model.model_fields.values()]
    while stack:
        annotation = stack.pop()
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= _config_keys(annotation)
        else:
            stack.extend(typing.get_args(annotation))
    return keys


def check_config(cfg: RouterConfig) -> list[ConfigProblem]:
    """Every cross-reference problem of a schema-valid config, in config order: unknown
    models and routes (with a suggestion), a model listed twice in one route, overflow
    cycles, and what the route builders reject (validators, strategies, rule conditions).
    Empty when the config is sound. `build_router` raises them as one `InvalidConfig`."""
    litellm_map = litellm_model_map()
    configured = list(cfg.models)
    known = {*configured, *litellm_map}
    problems = [
        ConfigProblem(f"models.{name}.from_litellm", f"unknown LiteLLM model {mc.from_litellm!r}")
        for name, mc in cfg.models.items()
        if mc.from_litellm is not None and mc.from_litellm not in litellm_map
    ]
    chains = {name: rc.model_paths(name) for name, rc in cfg.routes.items()}
    problems += chain_problems(chains, configured, known)
    for name, rc in cfg.routes.items():
        problems += _route_problems(name, rc, cfg.models)
    single = [
        (f"routes.{n}.verifier.model", rc.verifier.model)
        for n, rc in cfg.routes.items()
        if rc.verifier
    ]
    single += [
        (f"routes.{n}.shadow.model", rc.shadow.model) for n, rc in cfg.routes.items() if rc.shadow
    ]
    single += [("baseline", cfg.baseline)] if cfg.baseline is not None else []
    problems += [
        ConfigProblem(path, f"unknown model {model!r}{suggestion(model, configured, known)}")
        for path, model in single
        if model not in known
    ]
    refs = [(f"routes.{n}.overflow_route", rc.overflow_route) for n, rc in cfg.routes.items()]
    refs += [(f"rules[{i}].route", rule.route) for i, rule in enumerate(cfg.rules)]
    refs += [("default_route", cfg.default_route)]
    problems += route_ref_problems(((p, r) for p, r in refs if r is not None), cfg.routes)
    problems += overflow_cycles({n: rc.overflow_route for n, rc in cfg.routes.items()})
    problems += breaker_problems(cfg.breaker.model_dump())
    for i, rule in enumerate(cfg.rules):
        try:
            _rule(i, rule)
        except ConfigError as exc:
            problems.append(ConfigProblem(exc.path, exc.message))
    return problems


def build_router(
    cfg: RouterConfig,
    *,
    backend: Backend | None = None,
    clock: Clock | None = None,
    sinks: Sequence[Sink] = (),
    observers: Sequence[object] = (),
    guards: Sequence[AttemptGuard] = (),
    seed: int | None = None,
) -> Router:
    """A `Router` from a validated config. The backend defaults to LiteLLM's.

    `sinks` come before the config's `decision_log`; `observers` (e.g.
    `modelroute_otel.OTelObserver`) join the latency tracker the config's strategies use;
    `guards` run after the config's `limits` guard; `seed` makes backoff jitter repeatable.
    Raises `InvalidConfig` listing every cross-reference problem (see `check_config`).
    """
    from modelroute.router import Router
    from modelroute.sinks import JsonlSink

    problems = check_config(cfg)
    if problems:
        raise InvalidConfig(problems)
    catalog = build_catalog(cfg)
    if backend is None:
        from modelroute_litellm import (  # type: ignore[attr-defined]
            LiteLLMBackend,
            litellm_token_counter,
        )

        backend = LiteLLMBackend()
        catalog.token_counter = litellm_token_counter
    tracker = LatencyTracker()
    routes = build_routes(cfg, tracker)
    all_sinks = list(sinks)
    if cfg.decision_log:
        all_sinks.append(JsonlSink(cfg.decision_log))
    return Router(
        routes,
        backend=backend,
        catalog=catalog,
        baseline=cfg.baseline,
        default_route=cfg.default_route,
        sinks=all_sinks,
        clock=clock,
        breaker=BreakerConfig(**cfg.breaker.model_dump()),
        observers=[tracker, *observers],
        rules=build_rules(cfg),
        guards=[*([cfg.limits.build_guard(catalog, clock)] if cfg.limits else []), *guards],
        seed=seed,
        redact_users=user_redaction(cfg),
    )
