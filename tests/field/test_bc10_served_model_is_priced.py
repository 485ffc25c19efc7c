"""BC-10: when the provider reports that another model served the request, that model is
recorded and priced.

Route [m-small] ($1/M in, $4/M out); the catalog also knows m-large ($5/M, $20/M). The
provider server answers the request for m-small with `"model": "m-large-2026-01-15"` (every
chunk when streaming) and usage 400 in / 200 out. A dated snapshot maps to its base entry.
Variant U reports `m-unknown-9`, which the catalog does not know.

Mapping onto modelroute's records: the case's requested_model is `Attempt.model` (and
`Decision.responding_model`, the route's model that answered); its responding_model is
`Attempt.response_model` (and `Decision.served_model`); "priced as" is `Attempt.priced_as`;
the substitution flag `Attempt.substituted`; the unknown-price status `Attempt.price_unknown`.
What a budget is debited with is the `cost_usd` of the attempt the engine settles its guards
with, seen here by a guard that records it.
"""

from __future__ import annotations

import logging

import pytest

from field_routing import FILTERS, MODES, ask, make_router, model
from modelroute.catalog import Catalog, ModelInfo, model_family
from modelroute.provider_server import ModelScript, ProviderServer, Usage
from modelroute.records import Attempt, AttemptOutcome
from modelroute.route import Route
from modelroute.router import Router
from modelroute.types import Request

pytestmark = [pytest.mark.filterwarnings(f) for f in FILTERS]

USAGE = Usage(prompt_tokens=400, completion_tokens=200)
MAIN = {
    "m-small": ModelScript(reported_model="m-large-2026-01-15", usage=USAGE, chunks=3),
    "m-a": ModelScript(reported_model="m-a-2026-01-01", usage=USAGE),  # control: a snapshot
}
UNKNOWN = {"m-small": ModelScript(reported_model="m-unknown-9", usage=USAGE, chunks=3)}
LARGE_COST = 400 * 5e-6 + 200 * 20e-6  # $0.006
SMALL_COST = 400 * 1e-6 + 200 * 4e-6  # $0.0012


class DebitSpy:
    """An attempt guard that records what it is settled with (what a budget is debited)."""

    def __init__(self) -> None:
        self.debited: list[float] = []

    def admit(self, request: Request, model: object) -> object:
        return None

    async def aadmit(self, request: Request, model: object) -> object:
        return None

    def settle(self, ticket: object, attempt: Attempt | None) -> None:
        if attempt is not None:
            self.debited.append(attempt.cost_usd)

    async def asettle(self, ticket: object, attempt: Attempt | None) -> None:
        self.settle(ticket, attempt)


def _router(srv: ProviderServer, route: str = "m-small") -> tuple[Router, DebitSpy]:
    spy = DebitSpy()
    setup = make_router(
        srv,
        [Route("small", (route,))],
        names=("m-small", "m-large", "m-a", "m-b"),
        guards=[spy],
    )
    return setup.router, spy


@pytest.mark.parametrize("provider_server", [MAIN], indirect=True)
@pytest.mark.parametrize("mode", MODES)
def test_substituted_model_is_recorded_and_priced(
    provider_server: ProviderServer, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    router, spy = _router(provider_server)
    out = ask(router, mode, "hi")
    d = out.decision
    (attempt,) = d.attempts
    assert (attempt.model, attempt.outcome, attempt.reason) == ("m-small", AttemptOutcome.OK, None)
    assert attempt.response_model == d.served_model == "m-large-2026-01-15"
    assert d.responding_model == "m-small"
    assert (attempt.priced_as, attempt.substituted, attempt.price_unknown) == (
        "m-large",
        True,
        False,
    )
    assert attempt.cost_usd == pytest.approx(LARGE_COST, abs=1e-9)
    assert d.cost_usd == pytest.approx(0.006, abs=1e-9)
    assert abs(d.cost_usd - SMALL_COST) > 1e-6
    assert spy.debited == [pytest.approx(0.006, abs=1e-9)]
    if out.chunks:
        assert out.chunks[-1].model == "m-large-2026-01-15"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    provider_server.wait_idle(5.0)
    assert provider_server.calls("m-small") == 1 and provider_server.calls("m-large") == 0


@pytest.mark.parametrize("provider_server", [MAIN], indirect=True)
@pytest.mark.parametrize("mode", MODES)
def test_dated_snapshot_of_the_requested_model_is_no_substitution(
    provider_server: ProviderServer, mode: str
) -> None:
    router, _ = _router(provider_server, route="m-a")
    (attempt,) = ask(router, mode, "hi").decision.attempts
    assert attempt.response_model == "m-a-2026-01-01"
    assert (attempt.priced_as, attempt.substituted, attempt.price_unknown) == ("m-a", False, False)
    assert attempt.cost_usd == pytest.approx(400 * 1e-6 + 200 * 4e-6, abs=1e-9)


@pytest.mark.parametrize("provider_server", [UNKNOWN], indirect=True)
@pytest.mark.parametrize("mode", MODES)
def test_unknown_served_model_is_flagged_warned_and_priced_as_a_floor(
    provider_server: ProviderServer, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    router, spy = _router(provider_server)
    with caplog.at_level(logging.WARNING, logger="modelroute"):
        (attempt,) = ask(router, mode, "hi").decision.attempts
    assert attempt.response_model == "m-unknown-9"
    assert (attempt.substituted, attempt.price_unknown, attempt.priced_as) == (
        True,
        True,
        "m-small",
    )
    assert attempt.cost_usd == pytest.approx(SMALL_COST, abs=1e-9)  # flagged, never below
    assert spy.debited == [pytest.approx(SMALL_COST, abs=1e-9)]
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "m-unknown-9" in warnings[0].getMessage()
    ask(router, mode, "again")
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1  # once


def test_reported_names_map_to_catalog_entries() -> None:
    """The resolution rules, as a pure function of the catalog."""
    cat = Catalog(
        [
            model("m-small"),
            model("m-large"),
            model("m-a", aliases=("qwen2.5-0.5b-instruct-q4_k_m.gguf",)),
            model("m-b", target="openai/gpt-4o-2024-08-06"),
            model("m-c", target="openai/gpt-4o"),
        ]
    )
    small, m_a = cat.get("m-small"), cat.get("m-a")

    def read(requested: ModelInfo, reported: str | None) -> tuple[str, bool, bool]:
        served = cat.served_by(requested, reported)
        return served.model.name, served.substituted, served.known

    assert read(small, None) == ("m-small", False, True)
    assert read(small, "m-small") == ("m-small", False, True)
    assert read(small, "M-Small-20260115") == ("m-small", False, True)
    assert read(small, "m-large-2026-01-15") == ("m-large", True, True)
    assert read(small, "openai/m-large") == ("m-large", True, True)
    assert read(small, "m-large@20260115") == ("m-large", True, True)
    assert read(m_a, "qwen2.5-0.5b-instruct-q4_k_m.gguf") == ("m-a", False, True)
    assert read(small, "gpt-4o-2024-08-06") == ("m-b", True, True)  # exact target
    assert read(small, "gpt-4o-2024-11-20") == ("m-b", True, True)  # same family
    assert read(small, "m-unknown-9") == ("m-small", True, False)
    # an exact dated entry of the requested model's family: its prices, no substitution
    assert read(cat.get("m-c"), "gpt-4o-2024-08-06") == ("m-b", False, True)
    assert model_family("gemini-1.5-pro-002") == "gemini-1.5-pro"
    assert model_family("gpt-3.5-turbo-0125") == "gpt-3.5-turbo"
