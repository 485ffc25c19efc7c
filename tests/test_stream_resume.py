"""Mid-stream recovery (`Route.resume_streams`) over real HTTP: the local provider server cuts
or stalls m-a's stream after three words; the answer continues on the next model, through the
LiteLLM backend, in sync and async streams."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from litellm_helpers import warm_up_litellm
from modelroute.catalog import Catalog, ModelInfo
from modelroute.clock import Clock, FakeClock, SystemClock
from modelroute.config import build_routes, load_config
from modelroute.errors import StreamInterrupted
from modelroute.policies import Timeouts
from modelroute.provider_server import (
    Fault,
    HttpError,
    MalformedChunk,
    ModelScript,
    ProviderServer,
    RejectPrefill,
    StreamCut,
    StreamStall,
    service_unavailable,
)
from modelroute.records import AttemptOutcome, Decision, RequestOutcome, Segment
from modelroute.report.data import decision_from_dict
from modelroute.route import Route
from modelroute.router import Router
from modelroute.sinks import JsonlSink, MemorySink
from modelroute.stream_resume import (
    CONTINUE_INSTRUCTION,
    OverlapTrim,
    Resumption,
    continuation_request,
    repeated_prefix,
)
from modelroute.types import Request, StreamChunk
from modelroute_litellm import LiteLLMBackend

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:litellm")


@pytest.fixture(scope="module", autouse=True)
def _litellm_warm() -> None:
    """LiteLLM's first call imports for seconds; the stall test's limits must not count it."""
    warm_up_litellm()


FULL = "alpha beta gamma delta epsilon zeta eta theta"
SENT = "alpha beta gamma "  # m-a's three words before the fault
PROMPT = "Name eight Greek letters."
# m-b (prefill) repeats the last two words before going on; m-c (no prefill) starts over
SCRIPTS = {
    "m-a": ModelScript(answer=FULL),
    "m-b": ModelScript(answer="beta gamma delta epsilon zeta eta theta"),
    "m-c": ModelScript(answer=FULL),
}
PREFILL = {"m-a": True, "m-b": True, "m-c": False}
MODES = ["sync", "async"]


def router_for(
    srv: ProviderServer,
    models: tuple[str, ...],
    *,
    resume: bool = True,
    log: Path | None = None,
    clock: Clock | None = None,
    **route_kw: object,
) -> tuple[Router, MemorySink]:
    catalog = Catalog(
        ModelInfo(
            name,
            provider="local",
            target=f"openai/{name}",
            api_base=srv.base_url,
            input_cost_per_token=1e-6,
            output_cost_per_token=2e-6,
            supports_assistant_prefill=PREFILL[name],
        )
        for name in SCRIPTS
    )
    sink = MemorySink()
    route = Route("r", models, resume_streams=resume, **route_kw)  # type: ignore[arg-type]
    backend = LiteLLMBackend(api_key="sk-local")
    sinks = [sink] if log is None else [sink, JsonlSink(log)]
    clock = clock or FakeClock()
    router = Router([route], backend=backend, catalog=catalog, clock=clock, sinks=sinks)
    return router, sink


async def read(router: Router, mode: str) -> tuple[list[str], Decision | None]:
    """The texts of the chunks the caller receives (raises what the stream raises)."""
    texts: list[str] = []
    if mode == "sync":
        stream = router.stream(PROMPT)
        for chunk in stream:
            texts.append(chunk.text)
        return texts, stream.decision
    astream = router.astream(PROMPT)
    async for chunk in astream:
        texts.append(chunk.text)
    return texts, astream.decision


FAULTS: dict[str, Fault] = {
    "cut": StreamCut(after_chunks=3),
    "connection_reset": StreamCut(after_chunks=3, reset=True),
    "malformed_chunk": MalformedChunk(after_chunks=3),
    "stall": StreamStall(after_chunks=3),
}


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("mode", MODES)
async def test_broken_stream_continues_on_a_prefill_model_without_repeating(
    provider_server: ProviderServer, mode: str, fault: str
) -> None:
    srv = provider_server
    srv.set_faults("m-a", [FAULTS[fault]])
    # the async driver enforces the stall limit; the sync one relies on the read timeout,
    # which is attempt_s (docs/failure_modes.md, "Time limits in sync streams"). Both also
    # bound m-b's answer, so they leave room for a loaded machine.
    timeouts = Timeouts(attempt_s=4.0, stall_s=2.0)
    router, sink = router_for(srv, ("m-a", "m-b"), timeouts=timeouts)

    texts, decision = await read(router, mode)

    assert "".join(texts) == FULL  # every word once, in order
    assert decision is not None and sink.decisions == [decision]
    assert decision.resumed and decision.outcome == RequestOutcome.SUCCESS_AFTER_FALLBACK
    a, b = decision.attempts
    assert (a.model, a.outcome, b.model, b.outcome) == (
        "m-a",
        AttemptOutcome.INTERRUPTED,
        "m-b",
        AttemptOutcome.OK,
    )
    assert a.reason is not None and a.reason != "ok"
    assert decision.segments == (
        Segment("m-a", 0, 0, len(SENT)),
        Segment("m-b", 1, len(SENT), len(FULL)),
    )
    # both attempts are paid for: m-a's part estimated from the text it sent
    assert a.usage is not None and a.usage.estimated and a.usage.output_tokens > 0
    assert a.cost_usd > 0 and b.cost_usd > 0
    assert decision.cost_usd == pytest.approx(a.cost_usd + b.cost_usd)
    # m-b was asked to continue from the partial text, as an assistant prefill
    (seen,) = srv.requests("m-b")
    assert seen.messages[-1] == {"role": "assistant", "content": SENT}
    assert seen.messages[-2] == {"role": "user", "content": PROMPT}


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
@pytest.mark.parametrize("mode", MODES)
async def test_a_model_without_prefill_gets_a_continuation_instruction(
    provider_server: ProviderServer, mode: str
) -> None:
    srv = provider_server
    srv.set_faults("m-a", [StreamCut(after_chunks=3)])
    router, _ = router_for(srv, ("m-a", "m-c"))

    texts, decision = await read(router, mode)

    assert "".join(texts) == FULL  # m-c started over: its repeat of SENT is dropped
    assert decision is not None and decision.resumed
    assert [s.model for s in decision.segments] == ["m-a", "m-c"]
    (seen,) = srv.requests("m-c")
    assert list(seen.messages[-3:]) == [
        {"role": "user", "content": PROMPT},
        {"role": "assistant", "content": SENT},
        {"role": "user", "content": CONTINUE_INSTRUCTION},
    ]


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
@pytest.mark.parametrize("mode", MODES)
async def test_a_continuation_that_breaks_too_is_continued_by_the_next_model(
    provider_server: ProviderServer, mode: str
) -> None:
    srv = provider_server
    srv.set_faults("m-a", [StreamCut(after_chunks=3)])
    srv.set_faults("m-b", [StreamCut(after_chunks=4)])  # "beta gamma delta epsilon "
    srv.set_faults("m-c", [RejectPrefill()])  # m-c is asked without a prefill: no 400
    router, _ = router_for(srv, ("m-a", "m-b", "m-c"))

    texts, decision = await read(router, mode)

    assert "".join(texts) == FULL
    assert decision is not None and decision.resumed
    sent_b = "delta epsilon "  # m-b's own words after the repeat was dropped
    assert decision.segments == (
        Segment("m-a", 0, 0, len(SENT)),
        Segment("m-b", 1, len(SENT), len(SENT + sent_b)),
        Segment("m-c", 2, len(SENT + sent_b), len(FULL)),
    )
    assert [a.outcome for a in decision.attempts] == [
        AttemptOutcome.INTERRUPTED,
        AttemptOutcome.INTERRUPTED,
        AttemptOutcome.OK,
    ]
    (seen,) = srv.requests("m-c")
    assert seen.messages[-2] == {"role": "assistant", "content": SENT + sent_b}


def _tries(decision: Decision | None) -> list[tuple[str, AttemptOutcome, str | None, int]]:
    assert decision is not None
    return [(a.model, a.outcome, a.reason, a.retry) for a in decision.attempts]


INT, ERR, OK = AttemptOutcome.INTERRUPTED, AttemptOutcome.ERROR, AttemptOutcome.OK
INSTRUCTED = [
    {"role": "user", "content": PROMPT},
    {"role": "assistant", "content": SENT},
    {"role": "user", "content": CONTINUE_INSTRUCTION},
]


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
@pytest.mark.parametrize("mode", MODES)
async def test_a_refused_prefill_is_asked_again_on_the_same_model_with_the_instruction(
    provider_server: ProviderServer, mode: str
) -> None:
    srv = provider_server
    srv.set_faults("m-a", [StreamCut(after_chunks=3)])
    srv.set_faults("m-b", [RejectPrefill()])  # the catalog says m-b takes a prefill; it does not
    router, sink = router_for(srv, ("m-a", "m-b", "m-c"))

    texts, decision = await read(router, mode)

    assert "".join(texts) == FULL
    assert decision is not None and sink.decisions == [decision]
    assert _tries(decision) == [
        ("m-a", INT, decision.attempts[0].reason, 0),
        ("m-b", ERR, "bad_request", 0),
        ("m-b", OK, None, 1),
    ]
    assert decision.attempts[0].reason not in (None, "bad_request")
    assert decision.attempts[1].status_code == 400
    assert "prefill" in (decision.attempts[1].error_message or "")
    assert decision.outcome == RequestOutcome.SUCCESS_AFTER_FALLBACK and decision.resumed
    assert decision.segments == (
        Segment("m-a", 0, 0, len(SENT)),
        Segment("m-b", 2, len(SENT), len(FULL)),
    )
    prefilled, instructed = srv.requests("m-b")
    assert prefilled.messages[-1] == {"role": "assistant", "content": SENT}
    assert list(instructed.messages[-3:]) == INSTRUCTED
    assert srv.calls("m-c") == 0


# m-b's continuation fails before any text, whatever the reason: the next model continues
CONTINUATION_FAILURES: dict[str, tuple[list[Fault], list[tuple[str, AttemptOutcome, str]]]] = {
    "prefill_refused_then_400": (
        [RejectPrefill(), HttpError(400)],
        [("m-b", ERR, "bad_request"), ("m-b", ERR, "bad_request")],
    ),
    "503": ([service_unavailable()], [("m-b", ERR, "unavailable")]),
}


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
@pytest.mark.parametrize("case", list(CONTINUATION_FAILURES))
@pytest.mark.parametrize("mode", MODES)
async def test_a_failed_continuation_moves_on_to_the_next_model(
    provider_server: ProviderServer, mode: str, case: str
) -> None:
    faults, failed = CONTINUATION_FAILURES[case]
    srv = provider_server
    srv.set_faults("m-a", [StreamCut(after_chunks=3)])
    srv.set_faults("m-b", faults)
    router, _ = router_for(srv, ("m-a", "m-b", "m-c"))

    texts, decision = await read(router, mode)

    assert "".join(texts) == FULL
    tries = _tries(decision)
    assert [t[:3] for t in tries[1:]] == [*failed, ("m-c", OK, None)]
    assert tries[0][:2] == ("m-a", INT)
    assert decision is not None and decision.resumed
    assert [s.model for s in decision.segments] == ["m-a", "m-c"]
    assert srv.calls("m-b") == len(failed)
    (seen,) = srv.requests("m-c")  # m-c takes no prefill: asked with the instruction
    assert list(seen.messages[-3:]) == INSTRUCTED


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
@pytest.mark.parametrize("mode", MODES)
async def test_a_400_to_a_continuation_without_prefill_moves_on_at_once(
    provider_server: ProviderServer, mode: str
) -> None:
    srv = provider_server
    srv.set_faults("m-a", [StreamCut(after_chunks=3)])
    srv.set_faults("m-c", [HttpError(400)])  # asked with the instruction: nothing to drop
    router, _ = router_for(srv, ("m-a", "m-c", "m-b"))

    texts, decision = await read(router, mode)

    assert "".join(texts) == FULL
    assert [t[:3] for t in _tries(decision)[1:]] == [
        ("m-c", ERR, "bad_request"),
        ("m-b", OK, None),
    ]
    assert srv.calls("m-c") == 1
    (seen,) = srv.requests("m-b")
    assert seen.messages[-1] == {"role": "assistant", "content": SENT}


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
@pytest.mark.parametrize("mode", MODES)
async def test_when_every_continuation_is_refused_it_raises_with_every_try(
    provider_server: ProviderServer, mode: str
) -> None:
    srv = provider_server
    srv.set_faults("m-a", [StreamCut(after_chunks=3)])
    srv.set_faults("m-b", [RejectPrefill(), HttpError(400)])
    router, sink = router_for(srv, ("m-a", "m-b"))

    with pytest.raises(StreamInterrupted) as caught:
        await read(router, mode)

    assert caught.value.partial_text == SENT
    (decision,) = sink.decisions
    assert [t[:3] for t in _tries(decision)] == [
        ("m-a", INT, decision.attempts[0].reason),
        ("m-b", ERR, "bad_request"),
        ("m-b", ERR, "bad_request"),
    ]
    assert decision.outcome == RequestOutcome.INTERRUPTED


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
@pytest.mark.parametrize(("mode", "reason"), [("sync", "timeout"), ("async", "stream_stalled")])
async def test_a_sync_stream_stall_is_bounded_by_the_attempt_timeout(
    provider_server: ProviderServer, mode: str, reason: str
) -> None:
    """The async driver enforces `stall_s`; a sync stream's blocking read is bounded by the
    attempt's timeout (the backend's read timeout) and recorded as `timeout`."""
    srv = provider_server
    srv.set_faults("m-a", [StreamStall(after_chunks=3)])  # stalls until the client gives up
    router, _ = router_for(srv, ("m-a",), timeouts=Timeouts(attempt_s=6.0, stall_s=2.0))

    start = time.monotonic()
    with pytest.raises(StreamInterrupted) as caught:
        await read(router, mode)
    took = time.monotonic() - start

    assert took < 30.0  # bounded (6 s for sync, 2 s for async on an idle machine)
    assert caught.value.partial_text == SENT
    (attempt,) = caught.value.attempts
    assert (attempt.outcome, attempt.reason) == (AttemptOutcome.INTERRUPTED, reason)


# m-a's answer takes at least 10 s: 100 chunks, 0.1 s apart, each well within any limit
DRIBBLE = " ".join(f"w{i}" for i in range(100))
DRIBBLING = {**SCRIPTS, "m-a": ModelScript(answer=DRIBBLE, chunks=100, chunk_delay=0.1)}


@pytest.mark.parametrize("provider_server", [DRIBBLING], indirect=True)
@pytest.mark.parametrize("mode", MODES)
async def test_a_stream_still_going_at_the_deadline_is_cut_there(
    provider_server: ProviderServer, mode: str
) -> None:
    """Chunks that each arrive in time do not stretch a stream past the request's deadline:
    the async driver bounds each wait by it, the sync one checks it after every chunk."""
    timeouts = Timeouts(attempt_s=8.0, deadline_s=3.0)
    router, _ = router_for(
        provider_server, ("m-a", "m-b"), resume=False, clock=SystemClock(), timeouts=timeouts
    )

    with pytest.raises(StreamInterrupted) as caught:
        await read(router, mode)

    assert DRIBBLE.startswith(caught.value.partial_text) and caught.value.partial_text
    assert caught.value.partial_text != DRIBBLE
    (attempt,) = caught.value.attempts
    assert (attempt.model, attempt.outcome, attempt.reason) == (
        "m-a",
        AttemptOutcome.INTERRUPTED,
        "timeout",
    )


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
@pytest.mark.parametrize("mode", MODES)
async def test_off_the_break_raises_stream_interrupted_and_asks_no_one_else(
    provider_server: ProviderServer, mode: str
) -> None:
    srv = provider_server
    srv.set_faults("m-a", [StreamCut(after_chunks=3)])
    router, sink = router_for(srv, ("m-a", "m-b"), resume=False)

    with pytest.raises(StreamInterrupted) as caught:
        await read(router, mode)

    assert caught.value.partial_text == SENT
    (attempt,) = caught.value.attempts
    assert attempt.outcome == AttemptOutcome.INTERRUPTED and attempt.cost_usd == 0.0
    assert srv.calls("m-b") == 0
    (decision,) = sink.decisions
    assert not decision.resumed and decision.segments == ()
    assert decision.outcome == RequestOutcome.INTERRUPTED


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
@pytest.mark.parametrize("mode", MODES)
async def test_when_no_next_model_can_continue_it_raises_with_every_attempt(
    provider_server: ProviderServer, mode: str
) -> None:
    srv = provider_server
    srv.set_faults("m-a", [StreamCut(after_chunks=3)])
    srv.set_faults("m-b", [service_unavailable()])
    router, sink = router_for(srv, ("m-a", "m-b"))

    with pytest.raises(StreamInterrupted) as caught:
        await read(router, mode)

    assert caught.value.partial_text == SENT
    assert [(a.model, a.outcome) for a in caught.value.attempts] == [
        ("m-a", AttemptOutcome.INTERRUPTED),
        ("m-b", AttemptOutcome.ERROR),
    ]
    assert srv.requests("m-b")[0].messages[-1] == {"role": "assistant", "content": SENT}
    (decision,) = sink.decisions
    assert decision.outcome == RequestOutcome.INTERRUPTED and not decision.resumed
    assert decision.segments == (Segment("m-a", 0, 0, len(SENT)),)


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
async def test_the_decision_log_keeps_the_segments(
    provider_server: ProviderServer, tmp_path: Path
) -> None:
    srv = provider_server
    srv.set_faults("m-a", [StreamCut(after_chunks=3)])
    router, _ = router_for(srv, ("m-a", "m-b"), log=tmp_path / "log.jsonl")

    _, decision = await read(router, "async")

    line = json.loads((tmp_path / "log.jsonl").read_text())
    assert line["resumed"] is True
    assert [s["model"] for s in line["segments"]] == ["m-a", "m-b"]
    assert decision_from_dict(line).segments == decision.segments  # type: ignore[union-attr]


def test_the_route_config_takes_resume_streams() -> None:
    cfg = load_config(
        {
            "models": {"m-a": {}, "m-b": {}},
            "routes": {
                "on": {"models": ["m-a", "m-b"], "resume_streams": True},
                "off": {"models": ["m-a", "m-b"]},
            },
        }
    )
    routes = {r.name: r.resume_streams for r in build_routes(cfg)}
    assert routes == {"on": True, "off": False}


# -- the join, without I/O --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("partial", "continuation", "dropped"),
    [
        ("alpha beta gamma ", "beta gamma delta", len("beta gamma ")),  # repeated tail
        ("alpha beta gamma ", "alpha beta gamma delta", len("alpha beta gamma ")),  # restart
        ("Hi ", "Hi there", 3),  # a short partial repeated whole
        ("alpha beta gamma ", "gamma delta", 0),  # one repeated word: too short to judge
        ("alpha beta gamma ", "delta epsilon", 0),  # a clean continuation
        ("", "alpha", 0),
    ],
)
def test_repeated_prefix(partial: str, continuation: str, dropped: int) -> None:
    assert repeated_prefix(partial, continuation) == dropped


def test_overlap_trim_cuts_a_repeat_that_spans_chunks_and_then_passes_chunks_through() -> None:
    trim = OverlapTrim("one two three four ")
    assert trim.feed(StreamChunk("three")) == []  # may still be a repeat: held back
    assert trim.feed(StreamChunk(" fo")) == []
    out = trim.feed(StreamChunk("ur five"))  # "three four " repeated, then new text
    assert "".join(c.text for c in out) == "five"
    assert trim.dropped == len("three four ")
    assert trim.feed(StreamChunk(" six")) == [StreamChunk(" six")]
    assert trim.flush() == []


def test_overlap_trim_flushes_held_text_when_the_stream_ends() -> None:
    trim = OverlapTrim("one two three ")
    assert trim.feed(StreamChunk("two")) == []
    out = trim.flush()  # "two" alone is no repeat of the end: kept
    assert [c.text for c in out] == ["two"]


def test_a_refused_prefill_switches_that_model_to_the_instruction_once() -> None:
    b, c = ModelInfo("m-b", supports_assistant_prefill=True), ModelInfo("m-c")
    resumed = Resumption(Request.of(PROMPT))
    resumed.add("m-a", 0, SENT)
    assert resumed.request_for(b).messages[-1].role == "assistant"
    assert not resumed.refused_prefill(c)  # asked without a prefill: the 400 is something else
    assert resumed.refused_prefill(b)
    assert resumed.request_for(b).messages[-1].text == CONTINUE_INSTRUCTION
    assert not resumed.refused_prefill(b)  # once: a second 400 moves on


def test_continuation_request_leaves_the_callers_request_alone() -> None:
    request = Request.of(PROMPT, max_tokens=50)
    prefill = continuation_request(request, SENT, prefill=True)
    instructed = continuation_request(request, SENT, prefill=False)
    assert [m.role for m in request.messages] == ["user"]
    assert [(m.role, m.text) for m in prefill.messages[1:]] == [("assistant", SENT)]
    assert [m.role for m in instructed.messages] == ["user", "assistant", "user"]
    assert instructed.messages[-1].text == CONTINUE_INSTRUCTION
    assert prefill.max_tokens == instructed.max_tokens == 50
