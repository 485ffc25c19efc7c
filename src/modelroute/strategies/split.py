"""Weighted A/B and canary splits, sticky per user or session."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from modelroute.catalog import Catalog
from modelroute.strategies.base import Ranking
from modelroute.types import Request


def bucket(key: str, salt: str) -> float:
    """A stable number in [0, 1) for `key` (SHA-256, the same in every process)."""
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def request_key(request: Request, key: str) -> str | None:
    """The value a sticky choice hashes: `user`, `team`, or the `metadata` field `key`
    (None when the request lacks it)."""
    if key == "user":
        return request.user
    if key == "team":
        return request.team
    value = request.metadata.get(key)
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class WeightedSplit:
    """Pick the primary model by weight; the rest of the route stays as fallbacks.

    `weights` maps model names to relative weights (e.g. `{"stable": 0.95, "canary": 0.05}`).
    The split is sticky by `key`: `user`, `team`, or a `metadata` field name (e.g.
    `session_id`); requests without the key are assigned at random. Changing `salt`
    reshuffles everyone. The chosen arm is the decision's `tier`.
    """

    weights: Mapping[str, float] = field(default_factory=dict)
    key: str = "user"
    salt: str = "modelroute"
    name: str = "split"

    def __post_init__(self) -> None:
        if not self.weights:
            raise ValueError("a split needs at least one weighted model")
        bad = [m for m, w in self.weights.items() if w < 0]
        if bad or sum(self.weights.values()) <= 0:
            raise ValueError(f"weights must be >= 0 with a positive sum, got {dict(self.weights)}")

    def _key_of(self, request: Request) -> str | None:
        return request_key(request, self.key)

    def choose(self, request: Request) -> str:
        """The arm for `request`."""
        key = self._key_of(request)
        point = bucket(key, self.salt) if key is not None else random.random()
        total = sum(self.weights.values())
        acc = 0.0
        for model, weight in self.weights.items():
            acc += weight / total
            if point < acc:
                return model
        return next(reversed(list(self.weights)))

    def rank(self, request: Request, models: tuple[str, ...], catalog: Catalog) -> Ranking:
        """The chosen arm first, then the route's other models in order."""
        arm = self.choose(request)
        rest = tuple(m for m in models if m != arm)
        sticky = "sticky" if self._key_of(request) is not None else "random"
        return Ranking((arm, *rest), reason=f"{sticky} split by {self.key}", tier=arm)
