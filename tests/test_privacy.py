"""User pseudonyms and password-free URLs (modelroute.privacy), and the records they reach."""

from __future__ import annotations

import pytest

from helpers import catalog, scripted
from modelroute.clock import FakeClock
from modelroute.config import load_config, user_redaction
from modelroute.errors import ConfigError
from modelroute.privacy import UserRedaction, url_without_password
from modelroute.route import Route
from modelroute.router import Router
from modelroute.sinks import MemorySink
from modelroute.types import Request


def test_a_pseudonym_is_keyed_stable_and_not_the_id() -> None:
    redact = UserRedaction.from_secret("k1")
    first = redact("ana@example.test")
    assert first == redact("ana@example.test") == UserRedaction(b"k1")("ana@example.test")
    assert first is not None and first.startswith("user-") and len(first) == 5 + 16
    assert "ana" not in first and first != redact("bob@example.test")
    assert UserRedaction.from_secret("k2")("ana@example.test") != first
    assert redact(None) is None
    assert "k1" not in repr(redact)
    with pytest.raises(ValueError):
        UserRedaction(b"")


def test_records_carry_the_pseudonym_and_limits_are_untouched() -> None:
    sink = MemorySink()
    redact = UserRedaction.from_secret("k1")
    router = Router(
        [Route("r", ("m-a",))],
        backend=scripted({"m-a": ["ok"]}),
        catalog=catalog(),
        clock=FakeClock(),
        sinks=[sink],
        redact_users=redact,
    )
    request = Request.of("hi", user="ana@example.test", team="t1")
    router.complete(request)
    (decision,) = sink.decisions
    assert (decision.user, decision.team) == (redact("ana@example.test"), "t1")
    assert request.user == "ana@example.test"  # the caller's request is not changed


def test_config_names_the_key_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config({"routes": {"r": {"models": ["m-a"]}}, "redact_users_key_env": "MR_UK"})
    monkeypatch.delenv("MR_UK", raising=False)
    with pytest.raises(ConfigError, match="redact_users_key_env"):
        user_redaction(cfg)
    monkeypatch.setenv("MR_UK", "k1")
    assert user_redaction(cfg) == UserRedaction.from_secret("k1")
    assert user_redaction(load_config({"routes": {"r": {"models": ["m-a"]}}})) is None


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://u:pw@host:8080/v1", "http://u:***@host:8080/v1"),
        ("redis://:secret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("http://host/v1", "http://host/v1"),
        ("http://user@host/v1", "http://user@host/v1"),
        ("not a url", "not a url"),
    ],
)
def test_url_without_password(url: str, shown: str) -> None:
    assert url_without_password(url) == shown


def test_a_refusal_recorded_with_redaction_does_not_hold_the_raw_user_id() -> None:
    from modelroute.errors import RateLimitExceeded
    from modelroute.limits import LimitsGuard, RateLimit

    sink = MemorySink()
    redact = UserRedaction.from_secret("k1")
    clock = FakeClock()
    guard = LimitsGuard(catalog(), rates=[RateLimit("user", 60.0, requests=1)], clock=clock)
    router = Router(
        [Route("r", ("m-a",))],
        backend=scripted({"m-a": ["ok", "ok"]}),
        catalog=catalog(),
        clock=clock,
        sinks=[sink],
        guards=[guard],
        redact_users=redact,
    )
    request = Request.of("hi", user="ana@example.test")
    router.complete(request)
    with pytest.raises(RateLimitExceeded) as caught:
        router.complete(request)
    assert "ana@example.test" in str(caught.value)  # the caller's error names the user
    refused = sink.decisions[-1]
    (skip,) = refused.attempts
    assert skip.error_message and redact("ana@example.test") in skip.error_message
    assert "ana@example.test" not in repr(refused.to_dict())
