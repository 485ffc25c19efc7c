"""BC-01: a retired or renamed model (404/410) falls through to the next model with its own
reason; the caller's own malformed request (400) is terminal and not the model's fault.

Over real HTTP: LiteLLM backend -> local provider server. The server's request log counts
the calls. Case labels: model_not_found -> `model_not_found` (410 too: the not-found class),
ok -> no reason; the 400 -> `bad_request`, raised as `AllAttemptsFailed` whose `__cause__` is
the typed `BadRequest` carrying status 400.
"""

from __future__ import annotations

import pytest

from field_routing import FILTERS, MODES, ask, make_router
from modelroute.breaker import BreakerConfig
from modelroute.errors import AllAttemptsFailed, BadRequest
from modelroute.provider_server import (
    HttpError,
    ProviderServer,
    invalid_param,
    model_deprecated,
    model_not_found,
)
from modelroute.reasons import FallbackReason
from modelroute.records import AttemptOutcome, RequestOutcome
from modelroute.route import Route

pytestmark = [pytest.mark.filterwarnings(f) for f in FILTERS]

BREAKER = BreakerConfig(failure_threshold=3, cooldown_s=30.0)


def _calls(srv: ProviderServer) -> tuple[int, int, int]:
    srv.wait_idle(5.0)
    return srv.calls("m-a"), srv.calls("m-b"), srv.calls("m-c")


@pytest.mark.parametrize("mode", MODES)
def test_not_found_falls_through_and_callers_400_is_terminal(
    provider_server: ProviderServer, mode: str
) -> None:
    srv = provider_server
    setup = make_router(srv, [Route("r1", ("m-a", "m-b", "m-c"))], breaker=BREAKER)
    router, clock = setup.router, setup.clock
    breaker = router.breakers.get("m-a")

    # Q1: 404 model_not_found -> m-b answers; one call each, no same-model retry
    srv.set_faults("m-a", [model_not_found("m-a")])
    q1 = ask(router, mode, "Q1")
    assert q1.text == "Hello from m-b."
    assert _calls(srv) == (1, 1, 0)
    first, second = q1.decision.attempts
    assert (first.model, first.outcome, first.reason) == (
        "m-a",
        AttemptOutcome.ERROR,
        FallbackReason.MODEL_NOT_FOUND,
    )
    assert (first.status_code, first.cost_usd, first.retry) == (404, 0.0, 0)
    assert (second.model, second.outcome, second.reason) == ("m-b", AttemptOutcome.OK, None)
    assert q1.decision.responding_model == "m-b"
    assert q1.decision.outcome == RequestOutcome.SUCCESS_AFTER_FALLBACK

    # Q2: 410 model_deprecated -> the same shape, reason in the not-found class
    srv.set_faults("m-a", [model_deprecated("m-a")])
    q2 = ask(router, mode, "Q2")
    assert q2.text == "Hello from m-b."
    assert _calls(srv) == (2, 2, 0)
    gone, served = q2.decision.attempts
    assert FallbackReason.class_of(gone.reason or "") == FallbackReason.MODEL_NOT_FOUND
    assert (gone.model, gone.status_code, gone.cost_usd) == ("m-a", 410, 0.0)
    assert (served.model, served.reason, q2.decision.responding_model) == ("m-b", None, "m-b")

    # Q3: the caller's 400 -> a typed error carrying 400; m-b and m-c untouched;
    # m-a's breaker count unchanged (404 and 410 each counted once: the model's fault)
    failures_before = breaker.snapshot()["consecutive_failures"]
    assert failures_before == 2
    srv.set_faults("m-a", [invalid_param("temperature")])
    with pytest.raises(AllAttemptsFailed) as info:
        ask(router, mode, "Q3")
    cause = info.value.__cause__
    assert isinstance(cause, BadRequest) and cause.status_code == 400
    assert info.value.decision.outcome == RequestOutcome.TERMINAL_ERROR
    (only,) = info.value.attempts
    assert (only.model, only.reason, only.status_code) == ("m-a", "bad_request", 400)
    assert _calls(srv) == (3, 2, 0)
    assert breaker.snapshot()["consecutive_failures"] == failures_before
    assert breaker.state_at(clock.now()) == "closed"

    # Advisory: not-found counts against the breaker; a third 404 opens it, and a request
    # within the 30 s cooldown makes 0 calls to m-a and records it as skipped
    srv.set_faults("m-a", [model_not_found("m-a")])
    ask(router, mode, "Q4")
    assert breaker.state_at(clock.now()) == "open"
    assert _calls(srv) == (4, 3, 0)
    q5 = ask(router, mode, "Q5")
    skipped = q5.decision.attempts[0]
    assert (skipped.model, skipped.outcome, skipped.reason) == (
        "m-a",
        AttemptOutcome.SKIPPED,
        FallbackReason.CIRCUIT_OPEN,
    )
    assert _calls(srv) == (4, 4, 0)


@pytest.mark.parametrize("mode", MODES)
def test_bare_404_page_has_its_own_reason(provider_server: ProviderServer, mode: str) -> None:
    """A web server's HTML "Not Found" (wrong base URL), not a provider's model_not_found:
    modelroute falls back, and the record names the misconfiguration distinctly."""
    srv = provider_server
    router = make_router(srv, [Route("r1", ("m-a", "m-b", "m-c"))], breaker=BREAKER).router
    page = "<html><head><title>404 Not Found</title></head><body>Not Found</body></html>"
    srv.set_faults("m-a", [HttpError(404, body=page, content_type="text/html")])
    out = ask(router, mode, "hi")
    assert out.text == "Hello from m-b."
    miss = out.decision.attempts[0]
    assert (miss.model, miss.status_code) == ("m-a", 404)
    assert miss.reason == FallbackReason.ENDPOINT_NOT_FOUND != FallbackReason.MODEL_NOT_FOUND
    srv.wait_idle(5.0)
    assert (srv.calls("m-a"), srv.calls("m-b"), srv.calls("m-c")) == (1, 1, 0)
