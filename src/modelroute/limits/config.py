"""The `limits:` section of the YAML config, and building a `LimitsGuard` from it.

Short form (the common cases, one line each):

    limits: {per_user_per_minute: 20, per_team_daily_usd: 500}

Full form:

    limits:
      store: redis://127.0.0.1:6379/0      # or `memory` (default: this process only)
      key_secret_env: MODELROUTE_LIMITS_KEY  # HMAC secret for user/team ids in store keys
      on_store_error: open                 # open (warn, let through) | closed (refuse)
      timezone: Europe/Berlin              # budget days/months end at local midnight
      on_exhausted: downgrade              # refuse (default) | downgrade
      max_cost_usd: 0.50                   # per-call cap on the estimated cost
      rate:
        - {per: user, window_s: 60, requests: 20, tokens: 100000, keys: {u1: {requests: 3}}}
      budgets:
        - {per: team, usd: 500, period: day, keys: {t1: 0.025}}
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modelroute.errors import ConfigError
from modelroute.limits.admission import OnExhausted
from modelroute.limits.budget import Budget
from modelroute.limits.periods import Period
from modelroute.limits.rate import Quota, RateLimit
from modelroute.limits.scopes import Scope

if TYPE_CHECKING:
    from modelroute.catalog import Catalog
    from modelroute.clock import Clock
    from modelroute.limits.guard import LimitsGuard
    from modelroute.limits.store import LimitStore


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuotaConfig(_Strict):
    """A key's own quota in a rate rule."""

    requests: int | None = Field(default=None, ge=0)
    tokens: int | None = Field(default=None, ge=0)


class RateRuleConfig(_Strict):
    """Requests and/or tokens per `window_s` seconds for each key of scope `per`."""

    per: Scope
    window_s: float = Field(default=60.0, gt=0)
    requests: int | None = Field(default=None, ge=0)
    tokens: int | None = Field(default=None, ge=0)
    keys: dict[str, QuotaConfig] = {}

    @model_validator(mode="after")
    def _something(self) -> RateRuleConfig:
        if self.requests is None and self.tokens is None and not self.keys:
            raise ValueError("a rate rule needs `requests` or `tokens`")
        return self

    def build(self) -> RateLimit:
        """The `RateLimit`."""
        overrides = {k: Quota(q.requests, q.tokens) for k, q in self.keys.items()}
        return RateLimit(self.per, self.window_s, self.requests, self.tokens, overrides)


class BudgetRuleConfig(_Strict):
    """At most `usd` per calendar `period` for each key of scope `per`."""

    per: Scope
    usd: float = Field(ge=0)
    period: Literal["day", "month"] = "day"
    keys: dict[str, float] = {}

    @field_validator("keys")
    @classmethod
    def _non_negative(cls, keys: dict[str, float]) -> dict[str, float]:
        for key, usd in keys.items():
            if usd < 0:
                raise ValueError(f"budget of {key!r} must be >= 0 USD, got {usd}")
        return keys

    def build(self) -> Budget:
        """The `Budget`."""
        return Budget(self.per, self.usd, Period(self.period), dict(self.keys))


_SHORTHAND_RATES: dict[str, tuple[Scope, Literal["requests", "tokens"]]] = {
    "per_user_per_minute": ("user", "requests"),
    "per_team_per_minute": ("team", "requests"),
    "per_user_tokens_per_minute": ("user", "tokens"),
    "per_team_tokens_per_minute": ("team", "tokens"),
}
_SHORTHAND_BUDGETS: dict[str, tuple[Scope, Period]] = {
    "per_user_daily_usd": ("user", Period.DAY),
    "per_user_monthly_usd": ("user", Period.MONTH),
    "per_team_daily_usd": ("team", Period.DAY),
    "per_team_monthly_usd": ("team", Period.MONTH),
}


class LimitsConfig(_Strict):
    """The `limits:` section (see the module docstring for both forms)."""

    store: str = Field(default="memory", repr=False)  # a Redis URL may hold a password
    key_prefix: str = "modelroute:"
    key_secret_env: str | None = None
    store_timeout_s: float = Field(default=0.5, gt=0)
    on_store_error: Literal["open", "closed"] = "open"
    timezone: str = "UTC"
    on_exhausted: OnExhausted = "refuse"
    max_cost_usd: float | None = Field(default=None, ge=0)
    default_max_output_tokens: int = Field(default=4096, gt=0)
    rate: list[RateRuleConfig] = []
    budgets: list[BudgetRuleConfig] = []
    per_user_per_minute: int | None = Field(default=None, ge=0)
    per_team_per_minute: int | None = Field(default=None, ge=0)
    per_user_tokens_per_minute: int | None = Field(default=None, ge=0)
    per_team_tokens_per_minute: int | None = Field(default=None, ge=0)
    per_user_daily_usd: float | None = Field(default=None, ge=0)
    per_user_monthly_usd: float | None = Field(default=None, ge=0)
    per_team_daily_usd: float | None = Field(default=None, ge=0)
    per_team_monthly_usd: float | None = Field(default=None, ge=0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {name!r}") from None
        return name

    @field_validator("store")
    @classmethod
    def _store_url(cls, url: str) -> str:
        if url != "memory" and not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("use `memory` or a redis://, rediss:// or unix:// URL")
        return url

    def rate_limits(self) -> list[RateLimit]:
        """Every rate limit: the `rate` rules, then the shorthands."""
        out = [rule.build() for rule in self.rate]
        for name, (per, dimension) in _SHORTHAND_RATES.items():
            value = getattr(self, name)
            if value is not None:
                out.append(RateLimit(per, 60.0, **{dimension: value}))
        return out

    def budget_limits(self) -> list[Budget]:
        """Every budget: the `budgets` rules, then the shorthands."""
        out = [rule.build() for rule in self.budgets]
        for name, (per, period) in _SHORTHAND_BUDGETS.items():
            value = getattr(self, name)
            if value is not None:
                out.append(Budget(per, value, period))
        return out

    def build_store(self) -> LimitStore:
        """The configured store (Redis needs the `redis` extra)."""
        if self.store == "memory":
            from modelroute.limits.store import MemoryStore

            return MemoryStore()
        from modelroute.limits.redis_store import RedisStore

        return RedisStore(self.store, prefix=self.key_prefix, timeout_s=self.store_timeout_s)

    def key_secret(self) -> str | None:
        """The secret named by `key_secret_env` (None when that is unset). Raises
        `ConfigError` (path `limits.key_secret_env`) when the variable is unset or empty."""
        if not self.key_secret_env:
            return None
        secret = os.environ.get(self.key_secret_env)
        if not secret:
            message = f"environment variable {self.key_secret_env!r} is not set"
            raise ConfigError("limits.key_secret_env", message)
        return secret

    def build_guard(self, catalog: Catalog, clock: Clock | None = None) -> LimitsGuard:
        """The `LimitsGuard` this section describes. Raises `ConfigError` like `key_secret`."""
        from modelroute.limits.guard import LimitsGuard

        return LimitsGuard(
            catalog,
            rates=self.rate_limits(),
            budgets=self.budget_limits(),
            store=self.build_store(),
            clock=clock,
            timezone=self.timezone,
            on_exhausted=self.on_exhausted,
            max_cost_usd=self.max_cost_usd,
            default_max_output_tokens=self.default_max_output_tokens,
            on_store_error=self.on_store_error,
            key_secret=self.key_secret(),
        )
