"""The per-request fast paths keep their slow paths' answers: the catalog's memo of served
models follows `add`/`override`, the request check's shortcut for plain messages still
finds a lone surrogate in every other message field, and a route's candidate list is the
same deduplicated list for every request."""

from __future__ import annotations

from typing import Any

import pytest

from modelroute.catalog import Catalog, ModelInfo
from modelroute.errors import InvalidRequest
from modelroute.request_check import check_request
from modelroute.route import Route
from modelroute.router import Router
from modelroute.types import Request, Response, Usage
from modelroute.validators import JsonSchema, NonEmpty, validators_for_request


def _catalog() -> Catalog:
    return Catalog(
        [
            ModelInfo("m-a", provider="p", input_cost_per_token=1e-6),
            ModelInfo("m-b", provider="p", input_cost_per_token=5e-6),
        ]
    )


def test_served_by_is_remembered_until_the_catalog_changes() -> None:
    catalog = _catalog()
    requested = catalog.get("m-a")
    first = catalog.served_by(requested, "m-new")
    assert (first.model.name, first.substituted, first.known) == ("m-a", True, False)
    assert catalog.served_by(requested, "m-new") == first

    catalog.add(ModelInfo("m-new", provider="p", input_cost_per_token=9e-6))
    served = catalog.served_by(requested, "m-new")
    assert (served.model.name, served.substituted, served.known) == ("m-new", True, True)

    catalog.override("m-new", input_cost_per_token=2e-6)
    assert catalog.served_by(requested, "m-new").model.input_cost_per_token == 2e-6


def test_served_by_prices_a_requested_model_that_is_not_the_catalogs_entry() -> None:
    catalog = _catalog()
    catalog.served_by(catalog.get("m-a"), "m-a-2026-01-01")  # memoized for the entry
    copy = ModelInfo("m-a", provider="p", input_cost_per_token=7e-6)
    served = catalog.served_by(copy, "m-a-2026-01-01")
    assert served.model is copy and not served.substituted


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"role": "user", "content": "fine", "name": "bad\ud800"}, "messages[0].name"),
        (
            {"role": "tool", "content": "fine", "tool_call_id": "id\udc80"},
            "messages[0].tool_call_id",
        ),
        ({"role": "user", "content": [{"type": "text", "text": "x\ud800"}]}, "messages[0]"),
        ({"role": "user\ud800", "content": "fine"}, "messages[0].role"),
    ],
    ids=["name", "tool_call_id", "content_parts", "role"],
)
def test_the_plain_message_shortcut_still_finds_every_field(
    message: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidRequest) as info:
        check_request(Request.of([message]))
    assert info.value.field.startswith(field)


def test_plain_and_non_ascii_requests_pass_the_check() -> None:
    check_request(Request.of("Hamlet, prince of Denmark"))
    check_request(Request.of("Hamlet, prince de Danemark — été", params={"top_p": 1}))


def test_request_validators_are_shared_without_a_schema() -> None:
    plain = validators_for_request(Request.of("hi"))
    assert plain is validators_for_request(Request.of("other"))
    assert [type(v) for v in plain] == [NonEmpty]
    schema = {"type": "object"}
    with_schema = validators_for_request(Request.of("hi", json_schema=schema))
    assert [type(v) for v in with_schema] == [NonEmpty, JsonSchema]


class _Answers:
    """Answers every call with "ok" and remembers the models called."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def call(self, model: ModelInfo, request: Request, *, timeout_s: float | None) -> Response:
        self.calls.append(model.name)
        return Response("ok", usage=Usage(3, 1))

    async def acall(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> Response:
        return self.call(model, request, timeout_s=timeout_s)


def test_a_route_listing_a_model_twice_has_it_once_in_every_decision() -> None:
    backend = _Answers()
    route = Route("r", ("m-a", "m-b", "m-a"))
    router = Router([route], backend=backend, catalog=_catalog())  # type: ignore[arg-type]
    first, second = router.complete("q1").decision, router.complete("q2").decision
    assert first.candidates == second.candidates == ("m-a", "m-b")
    assert first.request_id != second.request_id
    assert backend.calls == ["m-a", "m-a"]
