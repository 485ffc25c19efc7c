"""The `limits:` config section (modelroute.limits.config) and its wiring in build_router."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from helpers import scripted
from modelroute.clock import FakeClock
from modelroute.config import load_config
from modelroute.errors import AllAttemptsFailed, BudgetExceeded, ConfigError, RateLimitExceeded
from modelroute.limits import LimitsGuard
from modelroute.limits.redis_store import RedisStore
from modelroute.router import Router
from modelroute.types import Request
from redis_server import RedisServer, redis_server  # noqa: F401

BASE: dict[str, Any] = {
    "models": {
        "m-strong": {"input_cost_per_mtok": 5, "output_cost_per_mtok": 20},
        "m-a": {"input_cost_per_mtok": 1, "output_cost_per_mtok": 4},
    },
    "routes": {"default": {"models": ["m-strong", "m-a"]}},
}


def router_for(limits: dict[str, Any], clock: FakeClock | None = None) -> Router:
    backend = scripted({"m-strong": ["strong"], "m-a": ["cheap"]})
    return Router.from_config(
        {**BASE, "limits": limits}, backend=backend, clock=clock or FakeClock()
    )


def guard_of(router: Router) -> LimitsGuard:
    (guard,) = router.guards
    assert isinstance(guard, LimitsGuard)
    return guard


def test_the_seed_short_form_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(
        "models:\n"
        "  m-a: {input_cost_per_mtok: 1, output_cost_per_mtok: 4}\n"
        "routes:\n  default: {models: [m-a]}\n"
        "limits: {per_user_per_minute: 20, per_team_daily_usd: 500}\n",
        encoding="utf-8",
    )
    clock = FakeClock()
    router = Router.from_config(path, backend=scripted({"m-a": ["ok"]}), clock=clock)
    guard = guard_of(router)
    assert guard.clock is clock
    for _ in range(20):
        router.complete(Request.of("hi", user="u1", team="t1", max_tokens=10))
    with pytest.raises(RateLimitExceeded) as info:
        router.complete(Request.of("hi", user="u1", team="t1", max_tokens=10))
    assert info.value.key == "u1" and info.value.limit == 20
    router.complete(Request.of("hi", user="u2", team="t1", max_tokens=10))  # own bucket
    usage = guard.budget_usage("team", "t1")
    assert usage.limit_usd == 500 and usage.spent_usd == pytest.approx(21 * 0.0003)


def test_a_tiny_daily_team_budget_refuses_with_its_numbers() -> None:
    router = router_for({"per_team_daily_usd": 0.0001})
    with pytest.raises(BudgetExceeded) as info:
        router.complete(Request.of("hi", team="t1", max_tokens=100))
    assert (info.value.key, info.value.limit_usd, info.value.spent_usd) == ("t1", 0.0001, 0.0)


def test_downgrade_from_config_answers_with_the_cheaper_model() -> None:
    limits = {
        "on_exhausted": "downgrade",
        "timezone": "America/New_York",
        "budgets": [{"per": "team", "usd": 5, "keys": {"t1": 0.001}}],
    }
    out = router_for(limits).complete(Request.of("hi", team="t1", max_tokens=100))
    assert out.decision.responding_model == "m-a"
    assert out.decision.fallback_reasons == ("budget_exceeded",)


def test_the_full_form_with_redis_shares_one_budget_between_routers(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    limits = {
        "store": redis_server.url,
        "key_prefix": f"cfg{os.urandom(4).hex()}:",
        "on_store_error": "closed",
        "on_exhausted": "downgrade",
        "rate": [{"per": "user", "window_s": 60, "requests": 100, "keys": {"u1": {"tokens": 500}}}],
        "budgets": [{"per": "team", "usd": 0.0009, "period": "month"}],
        "max_cost_usd": 0.01,
    }
    clock = FakeClock()
    first, second = router_for(limits, clock), router_for(limits, clock)
    assert isinstance(guard_of(first).store, RedisStore)
    req = Request.of("hi", team="t1", max_tokens=100)
    assert first.complete(req).decision.responding_model == "m-a"  # m-strong is over $0.0009
    assert second.complete(req).decision.responding_model == "m-a"
    with pytest.raises(AllAttemptsFailed) as failed:
        second.complete(req)  # $0.0006 spent, ~$0.000405 more does not fit $0.0009
    assert failed.value.decision.fallback_reasons == ("budget_exceeded",) * 2
    with pytest.raises(RateLimitExceeded) as info:
        first.complete(Request.of("hi", user="u1", team="t2", max_tokens=600))
    assert info.value.dimension == "tokens" and info.value.retry_after_s is None


@pytest.mark.parametrize(
    ("limits", "path"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "limits.timezone"),
        ({"store": "postgres://x"}, "limits.store"),
        ({"per_usr_per_minute": 20}, "limits.per_usr_per_minute"),
        ({"per_team_daily_usd": -1}, "limits.per_team_daily_usd"),
        ({"rate": [{"per": "planet", "requests": 1}]}, "limits.rate[0].per"),
        ({"rate": [{"per": "user"}]}, "limits.rate[0]"),
        ({"budgets": [{"per": "team", "usd": 1, "keys": {"t1": -2}}]}, "limits.budgets[0].keys"),
        ({"budgets": [{"per": "team", "usd": 1, "period": "week"}]}, "limits.budgets[0].period"),
        ({"on_exhausted": "panic"}, "limits.on_exhausted"),
    ],
)
def test_errors_name_the_config_path(limits: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config({**BASE, "limits": limits})
    assert info.value.path == path


def test_no_limits_section_means_no_guard() -> None:
    router = Router.from_config(BASE, backend=scripted({"m-strong": ["s"], "m-a": ["a"]}))
    assert router.guards == ()
