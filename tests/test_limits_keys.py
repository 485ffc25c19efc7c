"""Limit keys hold no raw user or team id (modelroute.limits.keys): the ids appear in store
keys only as keyed hashes, deterministic across routers and processes, so limits shared
through a real redis-server still hold.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from helpers import catalog, scripted
from modelroute.errors import ConfigError, RateLimitExceeded
from modelroute.limits import Budget, LimitsGuard, RateLimit
from modelroute.limits.config import LimitsConfig
from modelroute.limits.keys import KeyNames
from modelroute.limits.redis_store import RedisStore
from modelroute.route import Route
from modelroute.router import Router
from modelroute.types import Request
from redis_server import RedisServer, redis_server  # noqa: F401

USER, TEAM = "alice@example.com", "team-alice"
SECRET = "limits-key-test-secret"
RATE = RateLimit("user", 3600.0, requests=3)
BUDGET = Budget("team", 1.0)


@pytest.fixture
def prefix() -> str:
    return f"k{os.urandom(4).hex()}:"


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:  # noqa: F811
    c = redis.Redis.from_url(redis_server.url)
    yield c
    c.close()


def routed(url: str, prefix: str, secret: str | None = SECRET) -> tuple[Router, LimitsGuard]:
    guard = LimitsGuard(
        catalog(),
        rates=[RATE],
        budgets=[BUDGET],
        store=RedisStore(url, prefix=prefix),
        key_secret=secret,
    )
    router = Router(
        [Route("r", ("m-a",))],
        backend=scripted({"m-a": ["ok"]}),
        catalog=guard.catalog,
        guards=[guard],
    )
    return router, guard


def ask(router: Router) -> str:
    try:
        router.complete(Request.of("hi", user=USER, team=TEAM, max_tokens=10))
    except RateLimitExceeded as exc:
        return exc.reason
    return "ok"


def keys(client: redis.Redis, prefix: str) -> list[str]:
    return sorted(k.decode() for k in client.scan_iter(f"{prefix}*"))


def test_two_routers_share_limits_through_keys_that_hold_no_raw_id(
    redis_server: RedisServer,  # noqa: F811
    client: redis.Redis,
    prefix: str,
) -> None:
    (one, guard), (two, _) = routed(redis_server.url, prefix), routed(redis_server.url, prefix)
    assert [ask(r) for r in (one, two, one, two)] == ["ok", "ok", "ok", "rate_limit:requests"]
    found = keys(client, prefix)
    assert len(found) == 2  # one rate bucket (the user), one budget (the team)
    for key in found:
        for raw in (USER, TEAM, "alice", "example.com"):
            assert raw not in key, key
    names = KeyNames.of(SECRET)
    user_id, team_id = names.identity("user", USER), names.identity("team", TEAM)
    assert f"{prefix}rate:user:{user_id}:requests:3600" in found
    assert any(k.startswith(f"{prefix}budget:team:{team_id}:day:") for k in found)
    # inspection still takes the real id
    assert guard.rate_usage("user", USER).requests_used == pytest.approx(3.0, abs=1e-3)
    assert guard.budget_usage("team", TEAM).spent_usd > 0


def test_another_process_with_the_same_secret_counts_against_the_same_limit(
    redis_server: RedisServer,  # noqa: F811
    client: redis.Redis,
    prefix: str,
) -> None:
    here, _ = routed(redis_server.url, prefix)
    assert [ask(here), ask(here)] == ["ok", "ok"]
    script = textwrap.dedent(
        """
        import json, sys
        sys.path.insert(0, sys.argv[2])
        from test_limits_keys import ask, routed
        cfg = json.loads(sys.argv[1])
        router, _ = routed(cfg["url"], cfg["prefix"])
        print(json.dumps([ask(router), ask(router)]))
        """
    )
    cfg = json.dumps({"url": redis_server.url, "prefix": prefix})
    tests_dir = str(Path(__file__).resolve().parent)
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # a different str hash: the key is HMAC
    done = subprocess.run(
        [sys.executable, "-c", script, cfg, tests_dir],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tests_dir,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["ok", "rate_limit:requests"]
    assert len(keys(client, prefix)) == 2  # both processes wrote the same two keys


def test_a_guard_with_another_secret_names_other_keys(
    redis_server: RedisServer,  # noqa: F811
    client: redis.Redis,
    prefix: str,
) -> None:
    for secret in (SECRET, "another-secret", None):
        router, _ = routed(redis_server.url, prefix, secret)
        assert ask(router) == "ok"
    assert len(keys(client, prefix)) == 6  # three secrets: three pairs of keys


def test_only_user_and_team_ids_are_hashed() -> None:
    names = KeyNames.of("s")
    assert names.identity("user", USER) == names.identity("user", USER)  # deterministic
    assert names.identity("user", USER).startswith("k-") and len(names.identity("user", USER)) == 34
    assert names.identity("user", "x") != names.identity("team", "x")  # scopes never collide
    for per, key in (("task", "summarize"), ("model", "m-a"), ("global", "*")):
        assert names.identity(per, key) == key  # type: ignore[arg-type]
    assert KeyNames.of(None) == KeyNames()
    assert KeyNames.of(b"s") == names


def test_an_empty_secret_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="secret"):
        KeyNames.of("")
    with pytest.raises(ValueError, match="secret"):
        LimitsGuard(catalog(), key_secret=b"")


def test_the_config_reads_the_secret_from_the_named_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = LimitsConfig(per_user_per_minute=5, key_secret_env="MR_TEST_LIMITS_KEY")
    monkeypatch.delenv("MR_TEST_LIMITS_KEY", raising=False)
    with pytest.raises(ConfigError) as info:
        cfg.build_guard(catalog())
    assert info.value.path == "limits.key_secret_env"
    assert "MR_TEST_LIMITS_KEY" in str(info.value)
    monkeypatch.setenv("MR_TEST_LIMITS_KEY", SECRET)
    assert cfg.build_guard(catalog()).names == KeyNames.of(SECRET)
