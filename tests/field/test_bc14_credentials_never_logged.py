"""BC-14: credentials never reach logs, traces or errors; user identifiers are redacted the
same way in every sink.

A router built from config (route [m-a, m-b, m-c]) over `LiteLLMBackend` and the local provider
server, with marker secrets that all contain `CANARY`: m-a's API key (in the environment, named
by `api_key_env`), an extra `x-api-key` header (the backend's `extra_headers`: every model sends
it), user info in m-a's base URL, an AWS-style secret key (the backend's extra kwargs), m-c's
API key, and the password of the limits store's Redis URL (the real redis-server has none and
accepts it). Sinks: the JSONL decision log,
`LoggingSink`, OpenTelemetry spans (in memory); LiteLLM logging integrations are represented by
a LiteLLM callback keeping the standard logging payload LiteLLM hands them.

Request 1: m-a 401 echoing the request headers, m-b connection refused, m-c answers. Request 2:
the same but m-c 500, echoing the request headers. Every request carries user
`u-canary@example.test` and team `team-x`; user redaction is on (`redact_users_key_env`) or off.

Judged: "the payloads modelroute hands to LiteLLM callbacks" is LiteLLM's standard logging
payload, what its logging integrations export; the raw call kwargs LiteLLM also passes to a
custom callback hold the API key by design (LiteLLM needs it for the call). The case's "m-a
extra header" is the backend's `extra_headers`, which every model sends (modelroute has no
per-model headers). The Redis URL's password is checked in `repr`s of the router, its guard
and its config; "sinks" are the JSONL log, logging and spans (the limit store's keys hold a
keyed hash of user and team ids, never the ids: `modelroute.limits.keys`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_openai import ChatOpenAI

from field_routing import FILTERS, PRICES
from litellm_helpers import restored_callbacks, wait_for
from modelroute.clock import FakeClock
from modelroute.errors import AllAttemptsFailed
from modelroute.limits import LimitsGuard
from modelroute.privacy import UserRedaction
from modelroute.provider_server import HttpError, ModelScript, ProviderServer, auth_error
from modelroute.records import Decision
from modelroute.router import Router
from modelroute.sinks import LoggingSink, MemorySink
from modelroute.types import Request
from modelroute_langchain import RoutedChatModel
from modelroute_langchain.testing import RunCollector
from modelroute_litellm import LiteLLMBackend
from otel_helpers import Otel, attrs
from redis_server import RedisServer, free_port, redis_server  # noqa: F401

pytestmark = [pytest.mark.filterwarnings(f) for f in FILTERS]

A_KEY, HEADER, URL_PASSWORD = "sk-mr-CANARY-1111", "hdr-CANARY-2222", "pw-CANARY-3333"
AWS_SECRET, C_KEY, REDIS_PASSWORD = "sec-CANARY-5555", "sk-mr-CANARY-6666", "redis-CANARY-7777"
USER, TEAM = "u-canary@example.test", "team-x"
USER_KEY = "bc14-user-redaction-key"
SCRIPTS = {"m-a": ModelScript(), "m-c": ModelScript(answer="Hello from m-c.")}
ECHO_401 = auth_error(echo_request_headers=True)
ECHO_500 = HttpError(500, echo_request_headers=True)


class KeepsPayloads:
    """A LiteLLM callback keeping the standard logging payload of every call, as LiteLLM
    hands it to its logging integrations (Langfuse, OTel, ...)."""

    def __init__(self) -> None:
        from litellm.integrations.custom_logger import CustomLogger

        class _Logger(CustomLogger):  # type: ignore[misc]
            def log_success_event(
                self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
            ) -> None:
                payloads.append(repr(kwargs.get("standard_logging_object")))

            log_failure_event = log_success_event

            async def async_log_success_event(
                self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
            ) -> None:
                payloads.append(repr(kwargs.get("standard_logging_object")))

            async_log_failure_event = async_log_success_event

        payloads: list[str] = []
        self.payloads = payloads
        self.logger = _Logger()


class EveryLogLine(logging.Handler):
    """Every log record (DEBUG and up, any logger), formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def log_lines() -> Iterator[EveryLogLine]:
    handler = EveryLogLine()
    names = ["", *logging.root.manager.loggerDict]
    loggers = [logging.getLogger(n) for n in names if n == "" or not n.startswith("urllib3")]
    saved = [(log, log.level) for log in loggers]
    for log in loggers:
        log.addHandler(handler)
        log.setLevel(logging.DEBUG)
    yield handler
    for log, level in saved:
        log.removeHandler(handler)
        log.setLevel(level)


def config(srv: ProviderServer, redis_url: str, log: Path, redact: bool) -> dict[str, Any]:
    def priced(name: str, **fields: Any) -> dict[str, Any]:
        inp, out, _ = PRICES[name]
        entry = {"target": f"openai/{name}", "provider": "local"}
        return {**entry, "input_cost_per_mtok": inp, "output_cost_per_mtok": out, **fields}

    with_password = srv.base_url.replace("http://", f"http://u:{URL_PASSWORD}@")
    cfg: dict[str, Any] = {
        "models": {
            "m-a": priced("m-a", api_key_env="BC14_A_KEY", api_base=with_password),
            "m-b": priced("m-b", api_base=f"http://127.0.0.1:{free_port()}/v1"),  # refused
            "m-c": priced("m-c", api_key_env="BC14_C_KEY"),
        },
        "routes": {"r": {"models": ["m-a", "m-b", "m-c"]}},
        "decision_log": str(log),
        "limits": {
            "store": redis_url,
            "key_prefix": f"bc14-{os.urandom(4).hex()}:",
            # A day's window: Redis expires a rate key in real time once its bucket would be
            # full again, but this router's clock is fake (it never moves). With 100 a minute
            # a key lived 0.6 s of real time per request, so on a loaded machine a slow
            # moment between two attempts expired it and the count came out short (5, not 6).
            "rate": [{"per": "user", "window_s": 86_400, "requests": 100}],
            "store_timeout_s": 30,  # a slow Redis reply on a loaded machine is no store failure
        },
    }
    if redact:
        cfg["redact_users_key_env"] = "BC14_USER_KEY"
    return cfg


def span_text(otel: Otel) -> str:
    """Every exported span's name, attributes, events, status and resource, as text."""
    parts = []
    for span in otel.spans():
        parts += [span.name, json.dumps(attrs(span), default=str), str(span.status.description)]
        parts.append(json.dumps(dict(span.resource.attributes), default=str))
        for event in span.events:
            parts += [event.name, json.dumps(dict(event.attributes or {}), default=str)]
    return "\n".join(parts)


def error_chain(error: BaseException) -> str:
    """str and repr of an error and of every error in its cause and context chain."""
    texts, seen = [], set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current)]
        current = current.__cause__ or current.__context__
    return "\n".join(texts)


def run(router: Router, srv: ProviderServer, otel: Otel) -> tuple[Decision, AllAttemptsFailed]:
    observer = otel.observer()
    ask = Request.of("hi", user=USER, team=TEAM)
    srv.set_faults("m-a", [ECHO_401, ECHO_401])
    answered = router.complete(ask, observers=[observer])
    assert answered.text == "Hello from m-c."
    srv.set_faults("m-c", [ECHO_500])
    with pytest.raises(AllAttemptsFailed) as failed:
        asyncio.run(router.acomplete(ask, observers=[observer]))
    return answered.decision, failed.value


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
@pytest.mark.parametrize("redact", [True, False], ids=["redaction_on", "redaction_off"])
def test_no_credential_anywhere_and_users_redacted_alike(
    provider_server: ProviderServer,
    redis_server: RedisServer,  # noqa: F811
    log_lines: EveryLogLine,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    redact: bool,
) -> None:
    import litellm

    srv = provider_server
    for name, value in (("BC14_A_KEY", A_KEY), ("BC14_C_KEY", C_KEY), ("BC14_USER_KEY", USER_KEY)):
        monkeypatch.setenv(name, value)
    redis_url = redis_server.url.replace("redis://", f"redis://:{REDIS_PASSWORD}@")
    log = tmp_path / "decisions.jsonl"
    cfg = config(srv, redis_url, log, redact)
    backend = LiteLLMBackend(
        api_base=srv.base_url,
        api_key="sk-local",
        extra_kwargs={"extra_headers": {"x-api-key": HEADER}, "aws_secret_access_key": AWS_SECRET},
    )
    memory = MemorySink()
    router = Router.from_config(
        cfg, backend=backend, sinks=[LoggingSink(), memory], clock=FakeClock()
    )
    otel = Otel()
    keeper = KeepsPayloads()
    with restored_callbacks():
        litellm.callbacks = [keeper.logger]
        ok, failed = run(router, srv, otel)
        assert wait_for(lambda: len(keeper.payloads) >= 6)  # 3 calls per request reached LiteLLM

    # the calls happened, the credentials were sent, and the failures echoed them back
    srv.wait_idle(5.0)
    assert (srv.calls("m-a"), srv.calls("m-c")) == (2, 2)
    a_auth = srv.requests("m-a")[0]
    assert a_auth.status == 401 and "Authorization" not in a_auth.headers  # never logged
    assert [(a.model, a.reason) for a in ok.attempts] == [
        ("m-a", "auth"),
        ("m-b", "connection"),
        ("m-c", None),
    ]
    assert [(a.model, a.status_code) for a in failed.attempts] == [
        ("m-a", 401),
        ("m-b", None),
        ("m-c", 500),
    ]
    echoed = failed.attempts[2].error_message or ""
    assert "Request headers:" in echoed and "Bearer ***" in echoed  # scrubbed, not dropped
    assert all(len(a.error_message or "") <= 500 for a in (*ok.attempts, *failed.attempts))

    # no CANARY anywhere
    places = {
        "JSONL decision log": log.read_text(encoding="utf-8"),
        "log records": "\n".join(log_lines.lines),
        "spans": span_text(otel),
        "LiteLLM logging payloads": "\n".join(keeper.payloads),
        "the raised error and its chain": error_chain(failed),
        "router and config": "\n".join(
            [
                repr(router),
                repr(router.backend),
                repr(router.guards),
                repr(list(router.catalog)),
                repr(router.__dict__),
            ]
        ),
    }
    from modelroute.config import load_config

    places["router and config"] += repr(load_config(cfg))
    assert places["JSONL decision log"].count('"type":"decision"') == 2
    guard = router.guards[0]  # the Redis URL was used: every attempt was counted there
    assert isinstance(guard, LimitsGuard) and guard.store_failures == 0
    assert guard.rate_usage("user", USER).requests_used == pytest.approx(6)
    for where, text in places.items():
        assert "CANARY" not in text, f"a credential appears in the {where}: " + ", ".join(
            sorted(set(re.findall(r".{30}CANARY.{8}", text)))
        )

    # the user: one pseudonym in every sink (redaction on), the id in every sink (off)
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    route_spans = [attrs(s) for s in otel.routes()]
    expected = UserRedaction.from_secret(USER_KEY)(USER) if redact else USER
    assert [r["user"] for r in records] == [expected, expected]
    assert [s["modelroute.user"] for s in route_spans] == [expected, expected]
    assert [d.user for d in memory.decisions] == [expected, expected]
    assert all(r["team"] == TEAM for r in records)
    for where in ("JSONL decision log", "log records", "spans"):
        assert (USER in places[where]) is (not redact and where != "log records"), where


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
def test_the_langchain_facade_puts_no_credential_in_run_metadata_or_records(
    provider_server: ProviderServer,
) -> None:
    """The facade over LangChain's own `ChatOpenAI` per model, keys and header as above."""
    srv = provider_server
    sink = MemorySink()

    def chat(name: str, key: str, base_url: str | None = None) -> ChatOpenAI:
        return ChatOpenAI(
            model=name,
            base_url=base_url or srv.base_url,
            api_key=key,
            default_headers={"x-api-key": HEADER},
            max_retries=0,
        )

    models = {
        "m-a": chat("m-a", A_KEY),
        "m-b": chat("m-b", AWS_SECRET, f"http://127.0.0.1:{free_port()}/v1"),
        "m-c": chat("m-c", C_KEY),
    }
    facade = RoutedChatModel.from_models(
        models, sinks=[sink], redact_users=UserRedaction.from_secret(USER_KEY)
    )
    srv.set_faults("m-a", [ECHO_401, ECHO_401])
    srv.set_faults("m-c", [ECHO_500])
    runs = RunCollector()
    meta = {"modelroute_user": USER, "modelroute_team": TEAM}

    with pytest.raises(AllAttemptsFailed) as failed:
        facade.invoke("hi", {"callbacks": [runs], "metadata": meta})
    assert facade.invoke("hi", {"callbacks": [runs], "metadata": meta}).content == "Hello from m-c."

    produced = [r.extra.get("metadata", {}) for r in runs.named("RoutedChatModel")]
    facts = [{k: v for k, v in m.items() if k not in meta} for m in produced]
    places = {
        "run metadata the facade produces": json.dumps(facts, default=str),
        "records": json.dumps([d.to_dict() for d in sink.decisions], default=str),
        "the raised error and its chain": error_chain(failed.value),
        "the facade": repr(facade),
    }
    assert "Bearer ***" in places["records"]  # the echoed key was there, and scrubbed
    for where, text in places.items():
        assert "CANARY" not in text, f"a credential appears in the {where}"
    assert USER not in places["records"]
