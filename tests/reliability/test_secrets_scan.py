"""No API key leaks: keys set in the environment and in the application's config go through
real HTTP calls, failures that echo the request headers back included, and no key value
appears in any log line (every logger, DEBUG and up), stdout/stderr, the JSONL decision
log, an error's text or an exported span. modelroute writes prompt and answer text only in spans,
and only when content capture is on (LiteLLM's own DEBUG lines do show the messages).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelroute.errors import ModelRouteError
from modelroute.provider_server import HttpError, ModelScript, ProviderServer, StreamCut
from modelroute.router import Router
from modelroute.sinks import LoggingSink

ENV_KEY = "mr-live-ENVKEY-7f3a9c2e1d5b"  # in the environment, named by the config
CONFIG_KEY = "mr-cfg-CFGKEY-4b8d2a6c9e1f"  # the application's own setting
OPENAI_KEY = "sk-proj-OPENAIKEY-0a1b2c3d4e5f"  # LiteLLM's default variable
KEYS = (ENV_KEY, CONFIG_KEY, OPENAI_KEY)
PROMPT = "PROMPT-MARK-93f1 what is the capital of France?"
ANSWER = "ANSWER-MARK-5c2e Paris."
SCRIPTS = {name: ModelScript(answer=ANSWER, chunks=3) for name in ("m-a", "m-b", "m-c")}
ECHO = [
    HttpError(401, echo_request_headers=True),
    HttpError(500, echo_request_headers=True),
    HttpError(429, headers={"Retry-After": "0"}, echo_request_headers=True),
    HttpError(403, echo_request_headers=True),
]

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Item .* `ReadOnly` qualifier:UserWarning"),
]


class Collect(logging.Handler):
    """Keeps every formatted log line, whatever the logger."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)  # includes a formatted traceback when there is one
        self.lines.append(line)


@pytest.fixture
def every_log_line() -> Iterator[Collect]:
    """A DEBUG handler on the root logger and on the loggers that do not propagate."""
    handler = Collect()
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


def _config(base_url: str, log: Path) -> dict[str, Any]:
    model = {"target": None, "api_base": base_url, "provider": "local"}
    return {
        "models": {
            "m-a": {**model, "target": "openai/m-a", "api_key_env": "MR_RELIABILITY_KEY"},
            "m-b": {**model, "target": "openai/m-b"},
            "m-c": {**model, "target": "openai/m-c", "api_key_env": "MR_RELIABILITY_UNSET"},
        },
        "routes": {"main": {"models": ["m-a", "m-b", "m-c"]}},
        "decision_log": str(log),
    }


def _otel(capture: bool) -> tuple[Any, Any]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from modelroute_otel import OTelObserver

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return OTelObserver(provider, capture_content=capture), exporter


def _span_text(exporter: Any) -> str:
    parts = []
    for span in exporter.get_finished_spans():
        parts += [span.name, json.dumps(dict(span.attributes or {}), default=str)]
        parts += [str(span.status.description)]
        for event in span.events:
            parts += [event.name, json.dumps(dict(event.attributes or {}), default=str)]
    return "\n".join(parts)


async def _traffic(router: Router, server: ProviderServer, observer: Any) -> list[str]:
    """Answers, failures with echoed headers, streams; returns every error's text."""
    texts = []
    for model in ("m-a", "m-b", "m-c"):
        server.set_faults(model, ECHO)
    for i in range(6):
        try:
            if i % 2:
                async for _ in router.astream(PROMPT, observers=[observer]):
                    pass
            else:
                await router.acomplete(PROMPT, observers=[observer])
        except ModelRouteError as exc:
            attempts = getattr(exc, "attempts", ())
            texts += [str(exc), repr(exc), *(a.error_message or "" for a in attempts)]
    server.set_faults("m-a", [StreamCut(after_chunks=2)])
    try:
        async for _ in router.astream(PROMPT, observers=[observer]):
            pass
    except ModelRouteError as exc:
        texts += [str(exc), repr(exc)]
    return texts


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True, ids=["marked"])
@pytest.mark.parametrize("capture", [False, True], ids=["capture_off", "capture_on"])
def test_no_key_in_logs_records_errors_or_spans(
    provider_server: ProviderServer,
    every_log_line: Collect,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
    capture: bool,
) -> None:
    pytest.importorskip("modelroute_otel")
    from modelroute_litellm import LiteLLMBackend

    provider_server.reset()
    monkeypatch.setenv("MR_RELIABILITY_KEY", ENV_KEY)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    log = tmp_path / "decisions.jsonl"
    config = tmp_path / "modelroute.yaml"
    config.write_text(yaml.safe_dump(_config(provider_server.base_url, log)), encoding="utf-8")
    backend = LiteLLMBackend(api_base=provider_server.base_url, api_key=CONFIG_KEY)
    router = Router.from_config(config, backend=backend, sinks=[LoggingSink()])
    observer, exporter = _otel(capture)

    errors = asyncio.run(_traffic(router, provider_server, observer))

    # every model was called, and the failing calls echoed the credentials they received
    assert {r.model for r in provider_server.requests()} == {"m-a", "m-b", "m-c"}
    assert any("Bearer ***" in text or "sk-***" in text for text in errors)
    out, err = capfd.readouterr()
    places = {
        "log lines": "\n".join(every_log_line.lines),
        "modelroute log lines": "\n".join(
            line for line in every_log_line.lines if line.startswith("modelroute")
        ),
        "stdout/stderr": out + err,
        "decision log": log.read_text(encoding="utf-8"),
        "errors": "\n".join(errors) + repr(backend),
        "spans": _span_text(exporter),
    }
    assert places["decision log"].count('"type":"decision"') == 7
    assert places["spans"] and errors
    for where, text in places.items():
        for key in KEYS:
            assert key not in text, f"an API key appears in the {where}"
            assert key.split("-")[2] not in text, f"part of an API key appears in the {where}"
    # LiteLLM's own DEBUG lines show the messages it sends; modelroute's never do
    for where in ("modelroute log lines", "decision log", "errors"):
        assert "PROMPT-MARK" not in places[where], f"the prompt appears in the {where}"
        assert "ANSWER-MARK" not in places[where], f"the answer appears in the {where}"
    for mark in ("PROMPT-MARK", "ANSWER-MARK"):
        assert (mark in places["spans"]) is capture, f"{mark} in spans with capture={capture}"
