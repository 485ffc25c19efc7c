"""The HTTP-level LangChain paths replayed offline from vcrpy cassettes (cassettes/langchain/,
recorded from modelroute's local provider server; `MODELROUTE_RECORD=1` re-records them,
see the README there)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable
from langchain_openai import ChatOpenAI

from modelroute.provider_server import ModelScript, ProviderServer, Usage
from modelroute.sinks import MemorySink
from modelroute_langchain import RouterRunnable

CASSETTES = Path(__file__).resolve().parent.parent / "cassettes" / "langchain"
KEY = "sk-local-cassette"
SCRIPTS = {
    n: ModelScript(usage=Usage(prompt_tokens=12, completion_tokens=4)) for n in ("m-a", "m-b")
}


@pytest.fixture
def target(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, ProviderServer | None]]:
    """(record mode, base URL, server): record against a live local server when
    `MODELROUTE_RECORD=1`, else replay with nothing listening at the address."""
    if os.environ.get("MODELROUTE_RECORD") == "1":
        with ProviderServer(SCRIPTS).running() as srv:
            srv.set_faults("m-a", [503])
            yield "all", srv.base_url, srv
    else:
        yield "none", "http://127.0.0.1:9/v1", None  # discard port: a leak fails to connect


def chain_for(base_url: str, sink: MemorySink) -> Runnable[dict[str, str], str]:
    models = {
        n: ChatOpenAI(model=n, base_url=base_url, api_key=KEY, max_retries=0)
        for n in ("m-a", "m-b")
    }
    router = RouterRunnable.from_models(models, sinks=[sink])
    prompt = ChatPromptTemplate.from_messages([("user", "Say hello to {name}")])
    return prompt | router | StrOutputParser()


@pytest.mark.parametrize("mode", ["invoke", "stream"])
def test_the_fallback_replays_from_its_cassette(
    target: tuple[str, str, ProviderServer | None], mode: str
) -> None:
    import vcr

    record_mode, base_url, _ = target
    recorder = vcr.VCR(
        cassette_library_dir=str(CASSETTES),
        record_mode=record_mode,
        match_on=["method", "scheme", "host", "path", "body"],
        filter_headers=["authorization", "api-key", "x-api-key"],
        decode_compressed_response=True,
    )
    sink = MemorySink()
    chain = chain_for(base_url, sink)

    with recorder.use_cassette(f"fallback_{mode}.yaml") as cassette:
        if mode == "invoke":
            text = chain.invoke({"name": "Ann"})
        else:
            text = "".join(chain.stream({"name": "Ann"}))

    assert text == "Hello from m-b."
    (decision,) = sink.decisions
    assert decision.fallback_reasons == ("unavailable",)
    usage = decision.attempts[-1].usage
    assert usage is not None and (usage.input_tokens, usage.output_tokens) == (12, 4)
    assert cassette.play_count == (0 if record_mode == "all" else 2)
    stored = (CASSETTES / f"fallback_{mode}.yaml").read_text(encoding="utf-8")
    assert KEY not in stored and "authorization" not in stored.lower()
