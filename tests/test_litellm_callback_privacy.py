"""User redaction on the LiteLLM callback path (modelroute_litellm.callback, recorder): the same
`UserRedaction` gives a user the same pseudonym in records made by `ModelrouteCallback` as in
those of the core `Router`, in the JSONL log, in memory and on the OTel route span; the raw id
appears in none of them (field case BC-14). Real LiteLLM calls to the local provider server:
plain `litellm.acompletion`, and a `litellm.Router` call with a fallback hop.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from litellm_helpers import (
    KEY,
    LITELLM_NOISE,
    adecisions,
    deployment,
    restored_callbacks,
    router,
)
from modelroute.catalog import Catalog, ModelInfo
from modelroute.privacy import UserRedaction
from modelroute.provider_server import ProviderServer, service_unavailable
from modelroute.route import Route
from modelroute.router import Router
from modelroute.sinks import JsonlSink, MemorySink
from modelroute.types import Request
from modelroute_litellm import LiteLLMBackend
from modelroute_litellm.callback import ModelrouteCallback
from otel_helpers import Otel, attrs

pytestmark = LITELLM_NOISE

USER = "alice@example.com"
REDACTION = UserRedaction.from_secret("callback-privacy-test-key")


@pytest.fixture
def otel() -> Iterator[Otel]:
    telemetry = Otel()
    yield telemetry
    telemetry.shutdown()


def hi() -> list[dict[str, str]]:
    return [{"role": "user", "content": "hi"}]


async def core_path(srv: ProviderServer, log: Path, redact: UserRedaction | None) -> MemorySink:
    """One request through the core Router (LiteLLM backend), no LiteLLM callback installed."""
    sink = MemorySink()
    catalog = Catalog([ModelInfo("m-a", target="openai/m-a", input_cost_per_token=1e-6)])
    core = Router(
        [Route("r", ("m-a",))],
        backend=LiteLLMBackend(api_base=srv.base_url, api_key=KEY),
        catalog=catalog,
        sinks=[sink, JsonlSink(log)],
        redact_users=redact,
    )
    await core.acomplete(Request.of("hi", user=USER))
    return sink


async def callback_path(
    srv: ProviderServer, log: Path, redact: UserRedaction | None, otel: Otel
) -> MemorySink:
    """Two requests recorded by the callback: plain LiteLLM, and a Router with a fallback."""
    import litellm

    sink = MemorySink()
    litellm.callbacks = [
        ModelrouteCallback(
            sinks=[sink, JsonlSink(log)], observers=[otel.observer()], redact_users=redact
        )
    ]
    call: dict[str, Any] = {"api_base": srv.base_url, "api_key": KEY, "num_retries": 0}
    await litellm.acompletion(model="openai/m-a", messages=hi(), user=USER, **call)
    srv.set_faults("m-a", [service_unavailable()])
    url = srv.base_url
    pair = router(
        [deployment("primary", "m-a", url), deployment("backup", "m-b", url)],
        fallbacks=[{"primary": ["backup"]}],
    )
    await pair.acompletion(model="primary", messages=hi(), user=USER)
    await adecisions(sink, 2)
    return sink


@pytest.mark.parametrize("redact", [True, False], ids=["redaction_on", "redaction_off"])
async def test_a_user_gets_the_same_pseudonym_from_the_callback_as_from_the_router(
    provider_server: ProviderServer, otel: Otel, tmp_path: Path, redact: bool
) -> None:
    redaction = REDACTION if redact else None
    core_log, callback_log = tmp_path / "core.jsonl", tmp_path / "callback.jsonl"
    with restored_callbacks():  # first, so that no core-path call reaches the callback
        recorded = await callback_path(provider_server, callback_log, redaction, otel)
    with restored_callbacks():
        core = await core_path(provider_server, core_log, redaction)

    expected = REDACTION(USER) if redact else USER
    assert [d.user for d in core.decisions] == [expected]
    plain, routed = recorded.decisions
    assert [plain.user, routed.user] == [expected, expected]
    assert [a.reason for a in routed.attempts] == ["unavailable", None]  # a real fallback hop
    route_spans = [attrs(s) for s in otel.routes()]
    assert [s["modelroute.user"] for s in route_spans] == [expected, expected]
    for log in (core_log, callback_log):
        text = log.read_text(encoding="utf-8")
        assert text.count(f'"user":"{expected}"') >= 1
        assert (USER in text) is (not redact), log.name
    spans = "\n".join(str(attrs(s)) for s in otel.spans())
    assert (USER in spans) is (not redact)


def test_the_callback_keeps_the_redaction_it_was_given() -> None:
    callback = ModelrouteCallback(redact_users=REDACTION)
    assert callback.recorder.redact_users is REDACTION
    assert ModelrouteCallback().recorder.redact_users is None
    assert "callback-privacy-test-key" not in repr(REDACTION)


def test_the_proxy_handler_takes_the_pseudonym_key_from_its_environment() -> None:
    from modelroute_litellm.proxy_hooks import ProxyHandler

    handler = ProxyHandler.from_env({"MODELROUTE_USER_PSEUDONYM_KEY": "proxy-key"})
    redact = handler.recorder.redact_users
    assert redact is not None
    assert redact(USER) == UserRedaction.from_secret("proxy-key")(USER) != USER
    assert ProxyHandler.from_env({}).recorder.redact_users is None
