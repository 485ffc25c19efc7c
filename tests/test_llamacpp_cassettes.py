"""A real model's answers replayed offline: Router -> LiteLLMBackend -> llama.cpp's
OpenAI-compatible server (SmolLM2-135M-Instruct), from vcrpy cassettes in cassettes/llamacpp/.

Recorded inside the end-to-end run (see cassettes/llamacpp/README.md):
`MODELROUTE_RECORD=1 bash scripts/e2e/run.sh tests/test_llamacpp_cassettes.py`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelroute.catalog import Catalog, ModelInfo
from modelroute.route import Route
from modelroute.router import Router
from modelroute.types import Request
from modelroute_litellm import LiteLLMBackend

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:litellm"),
    pytest.mark.filterwarnings("ignore:Item .* `ReadOnly` qualifier:UserWarning"),
]

CASSETTES = Path(__file__).resolve().parent.parent / "cassettes" / "llamacpp"
KEY = "sk-local-llamacpp-cassette"  # the server checks no key; this one must not be stored
PROMPT = "Name the capital of France in one word."


@pytest.fixture
def target() -> Iterator[tuple[str, str]]:
    """(record mode, api_base): record against the live llama.cpp server of the e2e run with
    `MODELROUTE_RECORD=1`, else replay with nothing listening at the address."""
    if os.environ.get("MODELROUTE_RECORD") == "1":
        url = os.environ.get("MODELROUTE_E2E_LLAMA_URL")
        if not url:
            pytest.fail("record inside the e2e run: see cassettes/llamacpp/README.md")
        yield "all", url
    else:
        yield "none", "http://127.0.0.1:9/v1"  # discard port: a leak would fail to connect


def router_for(api_base: str) -> Router:
    model = ModelInfo(
        "smollm2",
        provider="openai",
        target="openai/smollm2",
        api_base=api_base,
        input_cost_per_token=0.1e-6,
        output_cost_per_token=0.4e-6,
        supports_json_schema=False,
    )
    return Router(
        [Route("local", ("smollm2",))],
        backend=LiteLLMBackend(api_key=KEY),
        catalog=Catalog([model]),
    )


def test_real_model_answers_replay(target: tuple[str, str]) -> None:
    import vcr

    record_mode, api_base = target
    recorder = vcr.VCR(
        cassette_library_dir=str(CASSETTES),
        record_mode=record_mode,
        match_on=["method", "scheme", "host", "path", "body"],
        filter_headers=["authorization", "api-key", "x-api-key"],
        decode_compressed_response=True,
    )
    router = router_for(api_base)
    request = Request.of(PROMPT, max_tokens=16, temperature=0)
    with recorder.use_cassette("smollm2.yaml") as cassette:
        routed = router.complete(request)
        stream = router.stream(request)
        chunks = list(stream)
    assert cassette.play_count == (0 if record_mode == "all" else 2)

    # A plain answer: text, a finish reason, usage as the server reported it, a cost.
    text = routed.response.text
    assert text.strip()
    assert routed.response.finish_reason in ("stop", "length")
    usage = routed.response.usage
    assert usage is not None and not usage.estimated
    assert usage.input_tokens > 10 and 0 < usage.output_tokens <= 16
    decision = routed.decision
    assert (decision.responding_model, decision.outcome.value) == ("smollm2", "success")
    assert decision.cost_usd == pytest.approx(
        usage.input_tokens * 0.1e-6 + usage.output_tokens * 0.4e-6
    )

    # The same question streamed (greedy decoding: the same words). llama.cpp's server sends
    # no usage in streams, so the last chunk carries an estimate, flagged as one.
    assert "".join(c.text for c in chunks if c.text) == text
    final = chunks[-1]
    assert final.finish_reason in ("stop", "length")
    assert final.usage is not None and final.usage.estimated
    assert stream.decision is not None and stream.decision.responding_model == "smollm2"

    stored = (CASSETTES / "smollm2.yaml").read_text(encoding="utf-8")
    assert KEY not in stored and "authorization" not in stored.lower()
