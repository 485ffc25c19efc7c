"""Builders: a validated `RouterConfig` (see `modelroute.config_schema`) to the core objects.

The catalog (`ModelInfo`, prices converted from USD per 1M tokens to USD per token), each
route's strategy, validators, policies, verifier and shadow (`Route`), the route rules and
the user redaction. Every error is a `ConfigError` (or `UnknownModelError`) naming the config
path. `modelroute.config.build_router` checks the whole config, then assembles these.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from modelroute.catalog import Catalog, ModelInfo, litellm_model_map, model_info_from_map
from modelroute.config_check import ConfigProblem
from modelroute.config_trained import trained_strategy
from modelroute.errors import ConfigError, UnknownModelError
from modelroute.policies import RetryPolicy, Timeouts
from modelroute.privacy import UserRedaction
from modelroute.route import Route
from modelroute.rules import RouteRule
from modelroute.shadow import Shadow
from modelroute.strategies.base import Strategy
from modelroute.strategies.complexity import HeuristicComplexity
from modelroute.strategies.cost import Cheapest
from modelroute.strategies.latency import Fastest, LatencyTracker
from modelroute.strategies.split import WeightedSplit
from modelroute.strategies.threshold import ScoreThreshold
from modelroute.validators import Validator, build_validator
from modelroute.verifier import Verifier

if TYPE_CHECKING:
    from modelroute.config_schema import (
        ModelConfig,
        RouteConfig,
        RouterConfig,
        RuleConfig,
        ShadowConfig,
        StrategyConfig,
        VerifierConfig,
    )
_PER_MTOK = 1e-6


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
        if rc.shadow is not None and rc.shadow.model not in catalog:
            if rc.shadow.model not in litellm_map:
                raise UnknownModelError(f"routes.{route_name}.shadow.model", rc.shadow.model)
            catalog.add(model_info_from_map(rc.shadow.model, litellm_map[rc.shadow.model]))
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
        supports_assistant_prefill=pick(sup.assistant_prefill, base.supports_assistant_prefill),
        api_base=mc.api_base,
        api_key_env=mc.api_key_env,
        aliases=tuple(mc.aliases),
    )


def build_strategy(
    sc: StrategyConfig,
    path: str,
    tracker: LatencyTracker,
    models: Sequence[str] = (),
    model_configs: Mapping[str, ModelConfig] | None = None,
) -> Strategy | None:
    """The ranker a strategy config describes (None for the static fallback order).

    `path` is the config path of `sc` (e.g. `routes.qa.strategy`), used in errors; `models`
    the route's models (a trained router must know at least one); `model_configs` the
    config's `models:`, whose `target`/`from_litellm` names a trained router may know the
    models by (see `modelroute.config_trained`). Raises `ConfigError`.
    """
    if sc.type == "trained":
        return trained_strategy(sc, f"{path}.path", models, model_configs or {})
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


def _route_problems(
    name: str, rc: RouteConfig, model_configs: Mapping[str, ModelConfig] | None = None
) -> Iterator[ConfigProblem]:
    """What the builders of route `name` would reject: tiers, weights, thresholds,
    validator specs and the strategy (`model_configs`: the config's `models:`)."""
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
        models = [m for _, m in rc.model_paths(name)]
        strategy_path = f"routes.{name}.strategy"
        build_strategy(rc.strategy, strategy_path, LatencyTracker(), models, model_configs)
    except ConfigError as exc:
        yield ConfigProblem(exc.path, exc.message)


def _check_route_models(name: str, rc: RouteConfig) -> None:
    problem = next(_route_model_problems(name, rc), None)
    if problem is not None:
        raise ConfigError(problem.path, problem.message)


def _verifier(vc: VerifierConfig | None) -> Verifier | None:
    if vc is None:
        return None
    return Verifier(vc.model, vc.max_regenerations, vc.escalate, vc.fail_open)


def _shadow(sc: ShadowConfig | None) -> Shadow | None:
    return None if sc is None else Shadow(sc.model, sc.fraction, sc.key, sc.salt)


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
        route_models = tuple(m for _, m in rc.model_paths(name))
        validators = _validators(rc.validators, f"routes.{name}.validators")
        tiers = {
            model: _validators(specs, f"routes.{name}.tier_validators.{model}")
            for model, specs in rc.tier_validators.items()
        }
        b, t = rc.backoff, rc.timeouts
        ranker = build_strategy(
            rc.strategy, f"routes.{name}.strategy", tracker, route_models, cfg.models
        )
        if rc.verifier is not None and hasattr(ranker, "judge"):  # a learned cascade
            raise ConfigError(
                f"routes.{name}.verifier",
                "the route's trained cascade judges answers itself; drop the verifier",
            )
        routes.append(
            Route(
                name=name,
                models=route_models,
                validators=validators,
                retry=RetryPolicy(
                    retries=rc.retries,
                    backoff_base_s=b.base_s,
                    backoff_max_s=b.max_s,
                    jitter=b.jitter,
                    max_retry_after_s=b.max_retry_after_s,
                ),
                timeouts=Timeouts(t.attempt_s, t.deadline_s, t.first_token_s, t.stall_s),
                ranker=ranker,
                tier_validators=tiers,
                max_input_tokens=rc.max_input_tokens,
                overflow_route=rc.overflow_route,
                require_human_review=rc.require_human_review,
                verifier=_verifier(rc.verifier),
                shadow=_shadow(rc.shadow),
                resume_streams=rc.resume_streams,
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
