"""A resumed stream the caller stops: its record says `resumed` and lists who wrote what.

Over real HTTP through LiteLLM: the provider server cuts m-a's stream after three words,
m-b continues it (its repeat of m-a's last words dropped), and the caller closes the
stream after m-b's first words. Two models wrote the text the caller received, so the
record is `resumed`, with m-b's segment, though the request ended `cancelled`."""

from __future__ import annotations

import pytest

from litellm_helpers import local_model
from modelroute.catalog import Catalog
from modelroute.clock import FakeClock
from modelroute.provider_server import ModelScript, ProviderServer, StreamCut
from modelroute.records import AttemptOutcome, RequestOutcome, Segment
from modelroute.route import Route
from modelroute.router import Router
from modelroute.sinks import MemorySink
from modelroute.stream_resume import Resumption
from modelroute.types import Request
from modelroute_litellm import LiteLLMBackend

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:litellm")

SENT = "alpha beta gamma "  # m-a's three words before the cut
FROM_B = "delta "  # m-b's first words after its repeat of "beta gamma " is dropped
SCRIPTS = {
    "m-a": ModelScript(answer="alpha beta gamma delta epsilon zeta"),
    "m-b": ModelScript(answer="beta gamma delta epsilon zeta"),
}


def router_for(srv: ProviderServer) -> tuple[Router, MemorySink]:
    catalog = Catalog(
        local_model(name, srv.base_url, supports_assistant_prefill=True) for name in SCRIPTS
    )
    sink = MemorySink()
    route = Route("r", ("m-a", "m-b"), resume_streams=True)
    router = Router(
        [route],
        backend=LiteLLMBackend(api_key="sk-local"),
        catalog=catalog,
        clock=FakeClock(),
        sinks=[sink],
    )
    return router, sink


async def read_past_the_break(router: Router, mode: str) -> str:
    """Read until the first text from the continuation, then close the stream."""
    received = ""
    if mode == "sync":
        stream = router.stream("Name Greek letters.")
        for chunk in stream:
            received += chunk.text
            if len(received) > len(SENT):
                break
        stream.close()
        return received
    astream = router.astream("Name Greek letters.")
    async for chunk in astream:
        received += chunk.text
        if len(received) > len(SENT):
            break
    await astream.aclose()
    return received


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_resumed_stream_closed_by_the_caller_is_recorded_as_resumed(
    provider_server: ProviderServer, mode: str
) -> None:
    srv = provider_server
    srv.set_faults("m-a", [StreamCut(after_chunks=3)])
    router, sink = router_for(srv)

    received = await read_past_the_break(router, mode)

    assert received == SENT + FROM_B
    (decision,) = sink.decisions
    assert decision.outcome == RequestOutcome.CANCELLED
    assert [(a.model, a.outcome) for a in decision.attempts] == [
        ("m-a", AttemptOutcome.INTERRUPTED),
        ("m-b", AttemptOutcome.CANCELLED),
    ]
    assert decision.segments == (
        Segment("m-a", 0, 0, len(SENT)),
        Segment("m-b", 1, len(SENT), len(SENT + FROM_B)),
    )
    assert decision.resumed


def test_resumed_means_text_from_more_than_one_model() -> None:
    resumption = Resumption(Request.of("hi"))
    resumption.add("m-a", 0, SENT)
    assert not resumption.by_several_models
    resumption.stopped("m-b", 1, "")  # stopped before the continuation sent anything
    assert not resumption.by_several_models and len(resumption.segments) == 1
    resumption.stopped("m-b", 1, FROM_B)
    assert resumption.by_several_models
    assert resumption.segments[-1] == Segment("m-b", 1, len(SENT), len(SENT + FROM_B))
