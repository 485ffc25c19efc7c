"""A route: the ordered models a request may go to, and the rules applied on the way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modelroute.policies import FallbackPolicy, RetryPolicy, Timeouts

if TYPE_CHECKING:
    from modelroute.validators import Validator


@dataclass(frozen=True, slots=True)
class Route:
    """An ordered fallback chain of model names with its validators and policies.

    `models[0]` is the primary; the rest are fallbacks tried in order. `validators`
    judge every answer (the request's own needs, such as a JSON schema, are added
    per request). Raises ValueError when `models` is empty.
    """

    name: str
    models: tuple[str, ...]
    validators: tuple[Validator, ...] = ()
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    fallback: FallbackPolicy = field(default_factory=FallbackPolicy)
    timeouts: Timeouts = field(default_factory=Timeouts)
    strategy: str = "fallback"

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError(f"route {self.name!r} has no models")
