"""Cheapest capable model first."""

from __future__ import annotations

from dataclasses import dataclass

from modelroute.catalog import Catalog
from modelroute.strategies.base import Ranking
from modelroute.types import Request


@dataclass(frozen=True, slots=True)
class Cheapest:
    """Order models by the estimated cost of this request (USD), cheapest first.

    Input tokens come from the catalog's token counter; output tokens are the request's
    `max_tokens` or `expected_output_tokens`. Models that lack a capability the request
    needs are left in place; the engine skips them with reason `capability`.
    """

    expected_output_tokens: int = 256
    name: str = "cheapest"

    def estimated_cost(self, request: Request, model: str, catalog: Catalog) -> float:
        """USD estimate of `request` on `model`."""
        info = catalog.get(model)
        tokens_in = catalog.estimate_input_tokens(model, request)
        tokens_out = request.max_tokens or self.expected_output_tokens
        return tokens_in * info.input_cost_per_token + tokens_out * info.output_cost_per_token

    def rank(self, request: Request, models: tuple[str, ...], catalog: Catalog) -> Ranking:
        """Models sorted by estimated cost (stable for ties)."""
        ordered = sorted(models, key=lambda m: self.estimated_cost(request, m, catalog))
        return Ranking(tuple(ordered), reason="cheapest estimated cost first")
