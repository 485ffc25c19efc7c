"""Rate limits: requests and tokens per window, per key, as GCRA buckets.

GCRA (the generic cell rate algorithm) is a token bucket stored as one number, the
"theoretical arrival time" (`tat`, epoch seconds): a bucket of capacity `limit` that
refills at `limit / window_s` per second. A burst of up to `limit` passes at once;
after it, capacity comes back gradually. The functions here are pure: the stores
(`store.MemoryStore`, and the Lua script of `redis_store.RedisStore`) apply them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from modelroute.limits.scopes import Scope

_EPSILON = 1e-9  # relative slack so that float sums landing exactly on the limit pass


@dataclass(frozen=True, slots=True)
class Quota:
    """Requests and/or tokens allowed per window (None = not limited)."""

    requests: int | None = None
    tokens: int | None = None


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `requests` calls and `tokens` tokens per `window_s` seconds for each key of
    scope `per` (e.g. each user). `overrides` gives some keys their own quota.

    Every attempt counts, fallback hops included. Tokens counted at admission are the
    estimated input tokens plus the output bound (`max_tokens`), like providers count them;
    they are not refunded when the answer is shorter.
    """

    per: Scope
    window_s: float = 60.0
    requests: int | None = None
    tokens: int | None = None
    overrides: Mapping[str, Quota] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.window_s <= 0:
            raise ValueError(f"window_s must be > 0 seconds, got {self.window_s}")
        if self.requests is None and self.tokens is None and not self.overrides:
            raise ValueError("a rate limit needs `requests` or `tokens`")

    def quota(self, key: str) -> Quota:
        """The quota of `key`: its override, else the default."""
        return self.overrides.get(key) or Quota(self.requests, self.tokens)


@dataclass(frozen=True, slots=True)
class GcraStep:
    """The outcome of asking a bucket for `amount`: `allowed`, the bucket's new `tat` when
    allowed, and `retry_after_s` when refused (None when `amount` exceeds the limit)."""

    allowed: bool
    tat: float
    retry_after_s: float | None = None


def gcra_take(tat: float | None, now: float, amount: int, limit: int, window_s: float) -> GcraStep:
    """Take `amount` from a bucket of `limit` per `window_s` whose state is `tat`."""
    if amount > limit:
        return GcraStep(False, tat or now, None)
    start = now if tat is None else max(tat, now)
    new_tat = start + amount * window_s / limit
    if new_tat - now > window_s * (1 + _EPSILON):
        return GcraStep(False, start, new_tat - window_s - now)
    return GcraStep(True, new_tat)


def gcra_refund(tat: float | None, now: float, amount: int, limit: int, window_s: float) -> float:
    """The bucket's `tat` after giving `amount` back; at most `now` means a full bucket."""
    if tat is None:
        return now
    return max(now, tat - amount * window_s / limit)


def gcra_level(tat: float | None, now: float, limit: int, window_s: float) -> float:
    """How much of the bucket is in use at `now` (0 = full bucket, `limit` = empty)."""
    if tat is None:
        return 0.0
    return max(0.0, tat - now) * limit / window_s


@dataclass(frozen=True, slots=True)
class RateUsage:
    """A rate limit's state for one key: what is in use of each quota right now (capacity
    comes back gradually, so the counts fall as time passes; None = not limited)."""

    key: str
    window_s: float
    requests_used: float | None
    requests_limit: int | None
    tokens_used: float | None
    tokens_limit: int | None
