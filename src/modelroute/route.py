"""A route: the ordered models a request may go to, and the rules applied on the way."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modelroute.policies import FallbackPolicy, RetryPolicy, Timeouts

if TYPE_CHECKING:
    from modelroute.shadow import Shadow
    from modelroute.strategies.base import Strategy
    from modelroute.validators import Validator
    from modelroute.verifier import Verifier


@dataclass(frozen=True, slots=True)
class Route:
    """An ordered fallback chain of model names with its validators and policies.

    `models[0]` is the primary; the rest are fallbacks tried in order. `validators`
    judge every answer (the request's own needs, such as a JSON schema, are added
    per request). They are stored without repeats: `NonEmpty`, which every request
    implies, is dropped, as is any validator equal to an earlier one (and any tier
    validator the route already runs), so each check runs, and is recorded, once.
    `ranker` (a `modelroute.strategies.base.Strategy`) reorders or narrows `models` per
    request; without one the order is static. Raises ValueError when
    `models` is empty.

    `tier_validators` adds validators for one model only: a cascade accepts a cheap
    tier's answer only when they pass (e.g. `MinConfidence`), else escalates.
    `max_input_tokens` is enforced before any call: longer requests go to
    `overflow_route` when set, else raise `InputTooLong`. `require_human_review`
    marks every decision of this route so the application can hold it for a person.
    `verifier` has a second model judge each answer (non-streaming calls only); a ranker
    that judges answers itself (a learned cascade) cannot be combined with one (ValueError).
    A ranker with a `check_route(models)` method checks `models` when the route is built
    (a learned cascade: ValueError naming the models its plans call that the route lacks).
    `resume_streams`: when a stream breaks after text reached the caller, continue the
    answer on the next model from that text (see `modelroute.stream_resume`) instead of
    raising `StreamInterrupted`. Off by default.
    `shadow` (a `modelroute.shadow.Shadow`) sends a copy of a sticky fraction of the
    route's non-streaming requests to a candidate model in the background; its answer is
    recorded, never returned.
    """

    name: str
    models: tuple[str, ...]
    validators: tuple[Validator, ...] = ()
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    fallback: FallbackPolicy = field(default_factory=FallbackPolicy)
    timeouts: Timeouts = field(default_factory=Timeouts)
    ranker: Strategy | None = None
    tier_validators: Mapping[str, tuple[Validator, ...]] = field(default_factory=dict)
    max_input_tokens: int | None = None
    overflow_route: str | None = None
    require_human_review: bool = False
    verifier: Verifier | None = None
    resume_streams: bool = False
    shadow: Shadow | None = None

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError(f"route {self.name!r} has no models")
        if self.validators or self.tier_validators:
            from modelroute.validators import route_validators

            own, tiers = route_validators(self.validators, self.tier_validators)
            object.__setattr__(self, "validators", own)  # frozen: normalised once, here
            object.__setattr__(self, "tier_validators", tiers)
        if self.verifier is not None and hasattr(self.ranker, "judge"):
            raise ValueError(
                f"route {self.name!r}: a cascade strategy judges answers itself; "
                "drop the route's verifier"
            )
        check_route = getattr(self.ranker, "check_route", None)  # e.g. a learned cascade
        if check_route is not None:
            try:
                check_route(self.models)
            except ValueError as exc:
                raise ValueError(f"route {self.name!r}: {exc}") from None

    @property
    def strategy(self) -> str:
        """The strategy's name: `fallback` (static order) unless a ranker is set."""
        return self.ranker.name if self.ranker is not None else "fallback"
