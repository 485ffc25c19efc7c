"""The schema of the YAML configuration: pydantic models of models, routes, strategies,
shadow traffic, verifiers, rules, breaker settings and the whole file (`RouterConfig`).

Frozen, and strict: an unknown key is an error. Prices are USD per 1M tokens (the unit
providers publish), times are seconds. `modelroute.config.load_config` validates a file or a
dict against `RouterConfig`; `modelroute.config_build` turns the result into core objects.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from modelroute.limits.config import LimitsConfig

__all__ = [
    "BackoffConfig",
    "BreakerSettings",
    "ModelConfig",
    "RouteConfig",
    "RouterConfig",
    "RuleConfig",
    "ShadowConfig",
    "StrategyConfig",
    "Supports",
    "TimeoutsConfig",
    "VerifierConfig",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Supports(_Strict):
    """Capabilities of a model; unset fields keep LiteLLM's value (or the default)."""

    tools: bool | None = None
    vision: bool | None = None
    json_schema: bool | None = None
    streaming: bool | None = None
    assistant_prefill: bool | None = None


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
    `split` (`weights`, `key`, `salt`), `threshold` (`scorer`: heuristic, `thresholds`),
    `trained` (`path`: a router file saved by `modelroute train`, a classifier or a cascade,
    relative to the config file's folder; `lam`: overrides its calibrated price of cost).
    """

    type: Literal["fallback", "cheapest", "fastest", "split", "threshold", "trained"] = "fallback"
    expected_output_tokens: int = Field(default=256, gt=0)
    metric: Literal["latency", "ttft"] = "latency"
    weights: dict[str, float] = {}
    key: str = "user"
    salt: str = "modelroute"
    scorer: Literal["heuristic"] = "heuristic"
    thresholds: list[float] = []
    path: str | None = None
    lam: float | None = Field(default=None, ge=0)

    @field_validator("path")
    @classmethod
    def _relative_to_config(cls, value: str | None, info: ValidationInfo) -> str | None:
        base = (info.context or {}).get("base_dir")
        if value is None or base is None or os.path.isabs(value):
            return value
        return os.path.join(base, value)

    @model_validator(mode="after")
    def _trained_needs_path(self) -> StrategyConfig:
        if self.type == "trained" and not self.path:
            raise ValueError("a trained strategy needs `path` (a router file)")
        return self


class ShadowConfig(_Strict):
    """Shadow traffic (see `modelroute.shadow.Shadow`): a copy of a sticky `fraction` of
    the route's requests goes to `model`, keyed by `key` (user, team or a metadata field)."""

    model: str
    fraction: float = Field(default=0.1, ge=0, le=1)
    key: str = "user"
    salt: str = "modelroute-shadow"


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

    models: list[str] | None = Field(default=None, min_length=1)
    primary: str | None = None
    fallbacks: list[str] = []
    validators: list[str | dict[str, Any]] = []
    tier_validators: dict[str, list[str | dict[str, Any]]] = {}
    strategy: StrategyConfig = StrategyConfig()
    max_input_tokens: int | None = Field(default=None, gt=0)
    overflow_route: str | None = None
    require_human_review: bool = False
    verifier: VerifierConfig | None = None
    shadow: ShadowConfig | None = None
    resume_streams: bool = False
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
