"""The YAML configuration: models, routes, policies, baseline, breaker, decision log.

Validated with pydantic into the core objects. Every error is a `ConfigError` naming
the exact path and value, e.g. `routes.summarize.fallbacks[1]: unknown model 'gpt-5o'`.
Prices in config are USD per 1M tokens (the unit providers publish).
"""

from __future__ import annotations

import os
import typing
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from modelroute.breaker import BreakerConfig
from modelroute.catalog import Catalog, ModelInfo, litellm_model_map, model_info_from_map
from modelroute.config_check import (
    ConfigProblem,
    InvalidConfig,
    chain_problems,
    overflow_cycles,
    route_ref_problems,
    schema_problems,
    suggestion,
)
from modelroute.errors import ConfigError, UnknownModelError
from modelroute.limits.config import LimitsConfig
from modelroute.policies import RetryPolicy, Timeouts
from modelroute.privacy import UserRedaction
from modelroute.route import Route
from modelroute.rules import RouteRule
from modelroute.strategies.base import Strategy
from modelroute.strategies.complexity import HeuristicComplexity
from modelroute.strategies.cost import Cheapest
from modelroute.strategies.latency import Fastest, LatencyTracker
from modelroute.strategies.split import WeightedSplit
from modelroute.strategies.threshold import ScoreThreshold
from modelroute.validators import Validator, build_validator
from modelroute.verifier import Verifier

if TYPE_CHECKING:
    from modelroute.backend import Backend
    from modelroute.clock import Clock
    from modelroute.router import Router
    from modelroute.sinks import Sink

_PER_MTOK = 1e-6


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Supports(_Strict):
    """Capabilities of a model; unset fields keep LiteLLM's value (or the default)."""

    tools: bool | None = None
    vision: bool | None = None
    json_schema: bool | None = None
    streaming: bool | None = None


class ModelConfig(_Strict):
    """One model. `from_litellm` copies prices and capabilities from LiteLLM's model map."""

    target: str | None = None
    provider: str | None = None
    from_litellm: str | None = None
    api_base: str | None = Field(default=None, repr=False)  # may hold a password
    api_key_env: str | None = None
    input_cost_per_mtok: float | None = Field(default=None, ge=0)
    output_cost_per_mtok: float | None = Field(default=None, ge=0)
    cached_input_cost_per_mtok: float | None = Field(default=None, ge=0)
    context_window: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    supports: Supports = Supports()
    aliases: list[str] = []


class BackoffConfig(_Strict):
    """Backoff between retries of the same model (seconds)."""

    base_s: float = Field(default=0.25, ge=0)
    max_s: float = Field(default=8.0, ge=0)
    jitter: float = Field(default=0.5, ge=0, le=1)
    max_retry_after_s: float = Field(default=10.0, ge=0)


class TimeoutsConfig(_Strict):
    """Time limits (seconds)."""

    attempt_s: float | None = Field(default=60.0, gt=0)
    deadline_s: float | None = Field(default=None, gt=0)
    first_token_s: float | None = Field(default=None, gt=0)
    stall_s: float | None = Field(default=None, gt=0)


class StrategyConfig(_Strict):
    """How a route orders its models per request.

    `type`: `fallback` (static order), `cheapest`, `fastest` (`metric`: latency|ttft),
    `split` (`weights`, `key`, `salt`), `threshold` (`scorer`: heuristic, `thresholds`).
    """

    type: Literal["fallback", "cheapest", "fastest", "split", "threshold"] = "fallback"
    expected_output_tokens: int = Field(default=256, gt=0)
    metric: Literal["latency", "ttft"] = "latency"
    weights: dict[str, float] = {}
    key: str = "user"
    salt: str = "modelroute"
    scorer: Literal["heuristic"] = "heuristic"
    thresholds: list[float] = []


class VerifierConfig(_Strict):
    """A second model that judges each answer (see `modelroute.verifier.Verifier`)."""

    model: str
    max_regenerations: int = Field(default=1, ge=0)
    escalate: bool = True
    fail_open: bool = True


class RuleConfig(_Strict):
    """Send requests matching `when` to `route` (see `modelroute.rules.RouteRule`)."""

    route: str
    when: dict[str, Any] = {}


class RouteConfig(_Strict):
    """A route: `models` in order, or `primary` plus `fallbacks`."""

    models: list[str] | None = None
    primary: str | None = None
    fallbacks: list[str] = []
    validators: list[str | dict[str, Any]] = []
    tier_validators: dict[str, list[str | dict[str, Any]]] = {}
    strategy: StrategyConfig = StrategyConfig()
    max_input_tokens: int | None = Field(default=None, gt=0)
    overflow_route: str | None = None
    require_human_review: bool = False
    verifier: VerifierConfig | None = None
    retries: int = Field(default=0, ge=0)
    backoff: BackoffConfig = BackoffConfig()
    timeouts: TimeoutsConfig = TimeoutsConfig()

    @model_validator(mode="after")
    def _one_form(self) -> RouteConfig:
        if self.models is None and self.primary is None:
            raise ValueError("a route needs `models` or `primary`")
        if self.models is not None and (self.primary is not None or self.fallbacks):
            raise ValueError("use either `models` or `primary`/`fallbacks`, not both")
        return self

    def model_paths(self, route: str) -> list[tuple[str, str]]:
        """(config path, model name) of every model, in order."""
        base = f"routes.{route}"
        if self.models is not None:
            return [(f"{base}.models[{i}]", m) for i, m in enumerate(self.models)]
        assert self.primary is not None
        head = [(f"{base}.primary", self.primary)]
        return head + [(f"{base}.fallbacks[{i}]", m) for i, m in enumerate(self.fallbacks)]


class BreakerSettings(_Strict):
    """Circuit-breaker settings (see `modelroute.breaker.BreakerConfig`)."""

    failure_threshold: int = Field(default=5, ge=1)
    failure_rate: float | None = Field(default=None, gt=0, le=1)
    window_s: float = Field(default=60.0, gt=0)
    min_calls: int = Field(default=10, ge=1)
    cooldown_s: float = Field(default=30.0, ge=0)
    max_cooldown_s: float = Field(default=600.0, ge=0)
    half_open_max_probes: int = Field(default=1, ge=1)
    success_threshold: int = Field(default=1, ge=1)


class RouterConfig(_Strict):
    """The whole configuration file."""

    models: dict[str, ModelConfig] = {}
    routes: dict[str, RouteConfig]
    rules: list[RuleConfig] = []
    default_route: str | None = None
    baseline: str | None = None
    breaker: BreakerSettings = BreakerSettings()
    decision_log: str | None = None
    limits: LimitsConfig | None = None
    redact_users_key_env: str | None = None  # names the key of `privacy.UserRedaction`


def load_config(source: str | os.PathLike[str] | Mapping[str, Any] | RouterConfig) -> RouterConfig:
    """Parse and validate a config from a YAML or JSON path (`.json`), a dict or a `RouterConfig`.

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
    try:
        return RouterConfig.model_validate(data)
    except ValidationError as exc:
        raise InvalidConfig(schema_problems(exc, _config_keys(RouterConfig))) from None


def _read_file(source: str | os.PathLike[str]) -> Any:
    import json

    import yaml

    with open(source, encoding="utf-8") as fh:
        if os.fspath(source).endswith(".json"):
            try:
                return json.load(fh)
            except ValueError as exc:
                raise ConfigError(os.fspath(source), f"invalid JSON: {exc}") from None
        try:
            return yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            raise ConfigError(os.fspath(source), f"invalid YAML: {exc}") from None


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
        problems += _route_problems(name, rc)
    single = [
        (f"routes.{n}.verifier.model", rc.verifier.model)
        for n, rc in cfg.routes.items()
        if rc.verifier
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
    for i, rule in enumerate(cfg.rules):
        try:
            _rule(i, rule)
        except ConfigError as exc:
            problems.append(ConfigProblem(exc.path, exc.message))
    return problems


def _route_problems(name: str, rc: RouteConfig) -> Iterator[ConfigProblem]:
    """What the builders of route `name` would reject: tiers, weights, thresholds,
    validator specs and the strategy."""
    yield from _route_model_problems(name, rc)
    specs = [(f"routes.{name}.validators[{i}]", v) for i, v in enumerate(rc.validators)]
    for model, tier in rc.tier_validators.items():
        specs += [(f"routes.{name}.tier_validators.{model}[{i}]", v) for i, v in enumerate(tier)]
    for path, spec in specs:
        try:
            build_validator(spec, path)
        except ConfigError as exc:
            yield ConfigProblem(exc.path, exc.message)
    try:
        build_strategy(rc.strategy, f"routes.{name}.strategy", LatencyTracker())
    except ConfigError as exc:
        yield ConfigProblem(exc.path, exc.message)


def build_catalog(cfg: RouterConfig) -> Catalog:
    """The catalog: configured models, plus LiteLLM map entries that routes name directly."""
    catalog = Catalog()
    litellm_map = litellm_model_map()
    for name, mc in cfg.models.items():
        catalog.add(_model_info(name, mc, litellm_map))
    for route_name, rc in cfg.routes.items():
        for path, model in rc.model_paths(route_name):
            if model in catalog:
                continue
            if model not in litellm_map:
                raise UnknownModelError(path, model)
            catalog.add(model_info_from_map(model, litellm_map[model]))
    for route_name, rc in cfg.routes.items():
        if rc.verifier is not None and rc.verifier.model not in catalog:
            if rc.verifier.model not in litellm_map:
                raise UnknownModelError(f"routes.{route_name}.verifier.model", rc.verifier.model)
            catalog.add(model_info_from_map(rc.verifier.model, litellm_map[rc.verifier.model]))
    if cfg.baseline is not None and cfg.baseline not in catalog:
        if cfg.baseline not in litellm_map:
            raise UnknownModelError("baseline", cfg.baseline)
        catalog.add(model_info_from_map(cfg.baseline, litellm_map[cfg.baseline]))
    return catalog


def _model_info(name: str, mc: ModelConfig, litellm_map: Mapping[str, Any]) -> ModelInfo:
    base = ModelInfo(name=name)
    if mc.from_litellm is not None:
        if mc.from_litellm not in litellm_map:
            raise UnknownModelError(f"models.{name}.from_litellm", mc.from_litellm)
        base = model_info_from_map(name, litellm_map[mc.from_litellm])
    sup = mc.supports

    def pick(value: Any, default: Any) -> Any:
        return default if value is None else value

    def per_token(value: float | None, default: float | None) -> float | None:
        return default if value is None else value * _PER_MTOK

    return ModelInfo(
        name=name,
        provider=pick(mc.provider, base.provider),
        target=pick(mc.target, mc.from_litellm or base.target),
        input_cost_per_token=per_token(mc.input_cost_per_mtok, base.input_cost_per_token) or 0.0,
        output_cost_per_token=per_token(mc.output_cost_per_mtok, base.output_cost_per_token) or 0.0,
        cached_input_cost_per_token=per_token(
            mc.cached_input_cost_per_mtok, base.cached_input_cost_per_token
        ),
        max_input_tokens=pick(mc.context_window, base.max_input_tokens),
        max_output_tokens=pick(mc.max_output_tokens, base.max_output_tokens),
        supports_tools=pick(sup.tools, base.supports_tools),
        supports_vision=pick(sup.vision, base.supports_vision),
        supports_json_schema=pick(sup.json_schema, base.supports_json_schema),
        supports_streaming=pick(sup.streaming, base.supports_streaming),
        api_base=mc.api_base,
        api_key_env=mc.api_key_env,
        aliases=tuple(mc.aliases),
    )


def build_strategy(sc: StrategyConfig, path: str, tracker: LatencyTracker) -> Strategy | None:
    """The ranker a strategy config describes (None for the static fallback order)."""
    try:
        if sc.type == "cheapest":
            return Cheapest(sc.expected_output_tokens)
        if sc.type == "fastest":
            return Fastest(tracker, sc.metric)
        if sc.type == "split":
            return WeightedSplit(sc.weights, sc.key, sc.salt)
        if sc.type == "threshold":
            return ScoreThreshold(HeuristicComplexity(), tuple(sc.thresholds))
    except ValueError as exc:
        raise ConfigError(path, str(exc)) from None
    return None


def _validators(specs: list[str | dict[str, Any]], path: str) -> tuple[Validator, ...]:
    return tuple(build_validator(spec, f"{path}[{i}]") for i, spec in enumerate(specs))


def _route_model_problems(name: str, rc: RouteConfig) -> Iterator[ConfigProblem]:
    models = [m for _, m in rc.model_paths(name)]
    for model in rc.tier_validators:
        if model not in models:
            path = f"routes.{name}.tier_validators.{model}"
            yield ConfigProblem(path, f"model {model!r} is not in the route")
    st = rc.strategy
    for model in st.weights:
        if model not in models:
            path = f"routes.{name}.strategy.weights.{model}"
            yield ConfigProblem(path, f"model {model!r} is not in the route")
    if st.type == "threshold" and len(st.thresholds) != len(models) - 1:
        path = f"routes.{name}.strategy.thresholds"
        yield ConfigProblem(path, f"{len(models)} tiers need {len(models) - 1} thresholds")


def _check_route_models(name: str, rc: RouteConfig) -> None:
    problem = next(_route_model_problems(name, rc), None)
    if problem is not None:
        raise ConfigError(problem.path, problem.message)


def _verifier(vc: VerifierConfig | None) -> Verifier | None:
    if vc is None:
        return None
    return Verifier(vc.model, vc.max_regenerations, vc.escalate, vc.fail_open)


def build_rules(cfg: RouterConfig) -> list[RouteRule]:
    """Route rules, in order."""
    return [_rule(i, rule) for i, rule in enumerate(cfg.rules)]


def _rule(i: int, rule: RuleConfig) -> RouteRule:
    when = dict(rule.when)
    for key in ("tags_any", "tags_all"):
        if key in when:
            when[key] = tuple(when[key])
    try:
        return RouteRule(rule.route, **when)
    except TypeError:
        known = ", ".join(f for f in RouteRule.__dataclass_fields__ if f != "route")
        raise ConfigError(f"rules[{i}].when", f"unknown condition (known: {known})") from None


def build_routes(cfg: RouterConfig, tracker: LatencyTracker | None = None) -> list[Route]:
    """Route objects with their validators, strategies and policies."""
    tracker = tracker or LatencyTracker()
    routes = []
    for name, rc in cfg.routes.items():
        _check_route_models(name, rc)
        validators = _validators(rc.validators, f"routes.{name}.validators")
        tiers = {
            model: _validators(specs, f"routes.{name}.tier_validators.{model}")
            for model, specs in rc.tier_validators.items()
        }
        b, t = rc.backoff, rc.timeouts
        routes.append(
            Route(
                name=name,
                models=tuple(m for _, m in rc.model_paths(name)),
                validators=validators,
                retry=RetryPolicy(
                    retries=rc.retries,
                    backoff_base_s=b.base_s,
                    backoff_max_s=b.max_s,
                    jitter=b.jitter,
                    max_retry_after_s=b.max_retry_after_s,
                ),
                timeouts=Timeouts(t.attempt_s, t.deadline_s, t.first_token_s, t.stall_s),
                ranker=build_strategy(rc.strategy, f"routes.{name}.strategy", tracker),
                tier_validators=tiers,
                max_input_tokens=rc.max_input_tokens,
                overflow_route=rc.overflow_route,
                require_human_review=rc.require_human_review,
                verifier=_verifier(rc.verifier),
            )
        )
    return routes


def user_redaction(cfg: RouterConfig) -> UserRedaction | None:
    """The user redaction keyed by the variable `redact_users_key_env` names (None when unset
    in config); `ConfigError` when the variable is not set."""
    if not cfg.redact_users_key_env:
        return None
    secret = os.environ.get(cfg.redact_users_key_env)
    if not secret:
        message = f"environment variable {cfg.redact_users_key_env!r} is not set"
        raise ConfigError("redact_users_key_env", message)
    return UserRedaction.from_secret(secret)


def build_router(
    cfg: RouterConfig,
    *,
    backend: Backend | None = None,
    clock: Clock | None = None,
    sinks: Sequence[Sink] = (),
) -> Router:
    """A `Router` from a validated config. The backend defaults to LiteLLM's."""
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
        observers=[tracker],
        rules=build_rules(cfg),
        guards=[cfg.limits.build_guard(catalog, clock)] if cfg.limits else [],
        redact_users=user_redaction(cfg),
    )
