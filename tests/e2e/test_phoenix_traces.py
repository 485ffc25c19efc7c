"""End to end: routes with a fallback firing, traced over OTLP into a real Arize Phoenix, the
spans read back from Phoenix's REST API, and the trace screenshotted in Phoenix's UI.

Primary tier: modelroute's local provider server answering 503. Fallback tier: a real model,
SmolLM2-135M-Instruct, served by llama.cpp (llama-cpp-python's OpenAI-compatible server).
Two routes: Router + LiteLLMBackend exporting over OTLP/HTTP, and a LangChain `RouterRunnable`
over `ChatOpenAI` models exporting over OTLP/gRPC.

Skipped unless MODELROUTE_E2E=1: `scripts/e2e/run.sh` starts Phoenix and llama.cpp inside a
private network namespace and sets the MODELROUTE_E2E_* variables (see scripts/e2e/).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("MODELROUTE_E2E") != "1",
        reason="end-to-end run: bash scripts/e2e/setup.sh && bash scripts/e2e/run.sh",
    ),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Item .* `ReadOnly` qualifier:UserWarning"),
]

KEY = "sk-local-e2e"  # neither server checks keys
PROMPT = "What is the capital of France? Answer in one short sentence."
MAX_TOKENS = 24
# SmolLM2 costs nothing to run here; nominal prices make the cost attributes non-zero.
SMOL_IN, SMOL_OUT = 0.1e-6, 0.4e-6
SERVICE = "modelroute-e2e"


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run through scripts/e2e/run.sh")
    return value


@pytest.fixture(scope="module")
def phoenix_url() -> str:
    return env("MODELROUTE_E2E_PHOENIX_URL")


@pytest.fixture(scope="module")
def llama_url() -> str:
    return env("MODELROUTE_E2E_LLAMA_URL")


@pytest.fixture
def flaky_server() -> Iterator[Any]:
    """modelroute's provider server with a model `flaky` whose next call answers 503."""
    from modelroute.provider_server import ModelScript, ProviderServer, service_unavailable

    with ProviderServer({"flaky": ModelScript(answer="never seen")}).running() as srv:
        srv.set_faults("flaky", [service_unavailable()])
        yield srv


def models(flaky_base: str, llama_url: str) -> list[Any]:
    from modelroute.catalog import ModelInfo

    return [
        ModelInfo(
            "flaky",
            provider="openai",
            target="openai/flaky",
            api_base=flaky_base,
            input_cost_per_token=2.5e-6,
            output_cost_per_token=10e-6,
        ),
        ModelInfo(
            "smollm2",
            provider="openai",
            target="openai/smollm2",
            api_base=llama_url,
            input_cost_per_token=SMOL_IN,
            output_cost_per_token=SMOL_OUT,
            supports_json_schema=False,  # llama.cpp's server answers 500 to json_schema
        ),
    ]


# -- reading spans back from Phoenix ------------------------------------------------------


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return json.load(reply)


def trace_spans(phoenix: str, trace_id: str, expected: int, timeout_s: float = 30) -> list[dict]:
    """The spans Phoenix stored for `trace_id` (`GET /v1/projects/default/spans`), polled
    until `expected` are there (ingestion is asynchronous) or `timeout_s` has passed."""
    query = urllib.parse.urlencode({"trace_id": trace_id, "limit": 100})
    url = f"{phoenix}/v1/projects/default/spans?{query}"
    deadline = time.monotonic() + timeout_s
    spans: list[dict] = []
    while time.monotonic() < deadline:
        try:
            spans = get_json(url)["data"]
        except urllib.error.HTTPError as exc:  # 404 until the project has data
            if exc.code != 404:
                raise
        if len(spans) >= expected:
            time.sleep(0.5)  # nothing more should arrive; check that below
            return list(get_json(url)["data"])
        time.sleep(0.2)
    return spans


def hex_trace_id(span: Any) -> str:
    return format(span.get_span_context().trace_id, "032x")


def hex_span_id(span: Any) -> str:
    return format(span.get_span_context().span_id, "016x")


def check_trace(
    spans: list[dict], caller_name: str, route: str, caller_span_id: str
) -> tuple[dict, dict, dict]:
    """Caller -> exactly one route span -> exactly one child per attempt (failed, answered);
    returns (route span, failed attempt, answered attempt)."""
    names = sorted(s["name"] for s in spans)
    assert len(spans) == 4, names
    (caller,) = [s for s in spans if s["parent_id"] is None]
    assert (caller["name"], caller["context"]["span_id"]) == (caller_name, caller_span_id)
    routes = [s for s in spans if s["name"].startswith("modelroute.route ")]
    assert [s["name"] for s in routes] == [f"modelroute.route {route}"]
    (route_span,) = routes
    assert route_span["parent_id"] == caller["context"]["span_id"]
    children = sorted(
        (s for s in spans if s["parent_id"] == route_span["context"]["span_id"]),
        key=lambda s: s["start_time"],
    )
    assert [s["name"] for s in children] == ["chat flaky", "chat smollm2"], names
    trace_ids = {s["context"]["trace_id"] for s in spans}
    assert len(trace_ids) == 1
    return route_span, children[0], children[1]


def check_attributes(route: dict, failed: dict, answered: dict, llama_url: str) -> float:
    """The attributes the design card asks for, as Phoenix stored them; returns the cost."""
    r, f, a = route["attributes"], failed["attributes"], answered["attributes"]
    assert r["modelroute.response.model"] == "smollm2"
    assert r["modelroute.fallback.reasons"] == ["unavailable"]
    assert r["modelroute.fallback.count"] == 1
    assert r["modelroute.models.attempted"] == ["flaky", "smollm2"]
    assert r["modelroute.outcome"] == "success_after_fallback"
    assert route["status_code"] != "ERROR"
    assert not any(k.startswith("gen_ai.") for k in r)

    assert failed["status_code"] == "ERROR"
    assert f["modelroute.fallback.reason"] == "unavailable"
    assert f["error.type"] == "ProviderUnavailable"
    assert f["modelroute.attempt.index"] == 0
    assert f.get("modelroute.cost.usd", 0) == 0

    assert answered["status_code"] != "ERROR"
    assert a["modelroute.attempt.index"] == 1
    assert a["gen_ai.request.model"] == "smollm2"
    assert a["server.port"] == urllib.parse.urlsplit(llama_url).port
    tokens_in, tokens_out = a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]
    assert tokens_in > 10 and 0 < tokens_out <= MAX_TOKENS
    cost = tokens_in * SMOL_IN + tokens_out * SMOL_OUT
    assert a["modelroute.cost.usd"] == pytest.approx(cost)
    assert r["modelroute.cost.usd"] == pytest.approx(cost)  # the sum over both calls
    return cost


# -- the routes ---------------------------------------------------------------------------


def test_litellm_route_over_otlp_http(flaky_server: Any, phoenix_url: str, llama_url: str) -> None:
    from modelroute.catalog import Catalog
    from modelroute.route import Route
    from modelroute.router import Router
    from modelroute.types import Request
    from modelroute_litellm import LiteLLMBackend
    from modelroute_litellm.tokens import load_litellm
    from modelroute_otel import OTelObserver, setup

    load_litellm()  # import LiteLLM (seconds) now, not inside the first traced attempt
    telemetry = setup(
        service_name=SERVICE,
        endpoint=phoenix_url,  # OTLP/HTTP: /v1/traces is appended
        protocol="http/protobuf",
        metric_readers=[],  # Phoenix takes traces only
        batch=False,
        environ={},
    )
    router = Router(
        [Route("e2e-litellm", ("flaky", "smollm2"))],
        backend=LiteLLMBackend(api_key=KEY),
        catalog=Catalog(models(flaky_server.base_url, llama_url)),
        baseline="flaky",
        observers=[
            OTelObserver(telemetry.tracer_provider, telemetry.meter_provider, cost_aliases=True)
        ],
    )
    tracer = telemetry.tracer_provider.get_tracer("e2e")
    try:
        with tracer.start_as_current_span("POST /ask (litellm)") as caller:
            routed = router.complete(Request.of(PROMPT, max_tokens=MAX_TOKENS, temperature=0))
    finally:
        telemetry.shutdown()

    assert routed.decision.responding_model == "smollm2"
    assert routed.decision.fallback_reasons == ("unavailable",)
    assert routed.response.text.strip()
    assert flaky_server.calls("flaky") == 1

    spans = trace_spans(phoenix_url, hex_trace_id(caller), expected=4)
    route, failed, answered = check_trace(
        spans, "POST /ask (litellm)", "e2e-litellm", hex_span_id(caller)
    )
    cost = check_attributes(route, failed, answered, llama_url)
    assert routed.decision.cost_usd == pytest.approx(cost)
    assert route["attributes"]["modelroute.baseline.model"] == "flaky"
    assert answered["attributes"]["llm.cost.total"] == pytest.approx(cost)  # cost_aliases

    screenshot(phoenix_url, hex_trace_id(caller), route["context"]["span_id"])


def test_langchain_route_over_otlp_grpc(
    flaky_server: Any, phoenix_url: str, llama_url: str
) -> None:
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_openai import ChatOpenAI

    from modelroute.catalog import Catalog
    from modelroute.route import Route
    from modelroute.sinks import MemorySink
    from modelroute_langchain import RouterRunnable
    from modelroute_otel import OTelObserver, setup

    telemetry = setup(
        service_name=SERVICE,
        endpoint=env("MODELROUTE_E2E_PHOENIX_GRPC"),
        protocol="grpc",
        metric_readers=[],
        batch=False,
        environ={},
    )
    chat = {
        "flaky": ChatOpenAI(
            model="flaky", base_url=flaky_server.base_url, api_key=KEY, max_retries=0
        ),
        "smollm2": ChatOpenAI(
            model="smollm2",
            base_url=llama_url,
            api_key=KEY,
            max_retries=0,
            max_tokens=MAX_TOKENS,
            temperature=0,
        ),
    }
    sink = MemorySink()
    router = RouterRunnable.from_models(
        chat,
        route=Route("e2e-langchain", ("flaky", "smollm2")),
        catalog=Catalog(models(flaky_server.base_url, llama_url)),
        sinks=[sink],
        observers=[OTelObserver(telemetry.tracer_provider, telemetry.meter_provider)],
    )
    chain = ChatPromptTemplate.from_messages([("user", "{question}")]) | router | StrOutputParser()
    tracer = telemetry.tracer_provider.get_tracer("e2e")
    try:
        with tracer.start_as_current_span("POST /ask (langchain)") as caller:
            text = chain.invoke({"question": PROMPT})
    finally:
        telemetry.shutdown()

    assert text.strip()
    (decision,) = sink.decisions
    assert decision.responding_model == "smollm2"
    assert decision.fallback_reasons == ("unavailable",)

    spans = trace_spans(phoenix_url, hex_trace_id(caller), expected=4)
    route, failed, answered = check_trace(
        spans, "POST /ask (langchain)", "e2e-langchain", hex_span_id(caller)
    )
    cost = check_attributes(route, failed, answered, llama_url)
    assert decision.cost_usd == pytest.approx(cost)


# -- Phoenix's UI in headless Chromium ----------------------------------------------------


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("chromium") or "/usr/bin/chromium"
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [
                exe,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--window-size=1600,1200",
                "--virtual-time-budget=20000",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def screenshot(phoenix: str, trace_id: str, route_span_id: str) -> None:
    """Open the trace in Phoenix's UI with the route span selected; check the rendered page
    shows the route and its attempts, and save a PNG (out/e2e/, and MODELROUTE_E2E_SCREENSHOT
    if set)."""
    url = f"{phoenix}/redirects/spans/{route_span_id}"
    dom = chromium("--dump-dom", url).stdout
    for text in ("modelroute.route e2e-litellm", "chat flaky", "chat smollm2"):
        assert text in dom, f"{text!r} not in Phoenix's page for trace {trace_id}"
    out = Path(os.environ.get("MODELROUTE_E2E_OUT") or tempfile.mkdtemp())
    png = out / "phoenix_trace.png"
    chromium(f"--screenshot={png}", url)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    target = os.environ.get("MODELROUTE_E2E_SCREENSHOT")
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, target)
