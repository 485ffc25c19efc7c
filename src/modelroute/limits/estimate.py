"""What a call may cost before it is made: the reservation a guard holds for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelroute.types import Usage

if TYPE_CHECKING:
    from modelroute.catalog import Catalog, ModelInfo
    from modelroute.types import Request


@dataclass(frozen=True, slots=True)
class CallEstimate:
    """Upper estimate of one call: `input_tokens` counted by the catalog's token counter,
    `output_tokens` the output bound, `cost_usd` both at the model's prices."""

    input_tokens: int
    output_tokens: int
    cost_usd: float

    @property
    def tokens(self) -> int:
        """input + output tokens (what a tokens-per-window limit counts)."""
        return self.input_tokens + self.output_tokens


def output_bound(request: Request, model: ModelInfo, default: int) -> int:
    """Most output tokens a call can produce: the request's `max_tokens` (at most the
    model's own maximum), else the model's maximum, else `default`."""
    if request.max_tokens is not None:
        if model.max_output_tokens is not None:
            return min(request.max_tokens, model.max_output_tokens)
        return request.max_tokens
    return model.max_output_tokens or default


def estimate_call(
    catalog: Catalog, request: Request, model: ModelInfo, default_output_tokens: int
) -> CallEstimate:
    """The estimate of calling `model` with `request`."""
    tokens_in = catalog.estimate_input_tokens(model.name, request)
    tokens_out = output_bound(request, model, default_output_tokens)
    return CallEstimate(tokens_in, tokens_out, model.cost(Usage(tokens_in, tokens_out)))
