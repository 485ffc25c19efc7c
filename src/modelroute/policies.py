"""When to retry the same model, how long to back off, and when to fall back.

Policies are frozen: per-request state (retry counts, attempts) lives in the `Plan`,
never on the policy object, so one policy is safe to share across concurrent requests.
All durations are seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelroute.reasons import TERMINAL_REASONS, TRANSIENT_REASONS, FallbackReason


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of the same model on transient errors, with bounded exponential backoff.

    `retries` is the number of extra calls to the same model (0 = go straight to the
    next model). The n-th retry waits `min(backoff_max_s, backoff_base_s * 2**n)`
    scaled by a random factor in `[1 - jitter, 1]`; a provider's Retry-After replaces
    it when longer. A Retry-After above `max_retry_after_s` means "not worth waiting":
    the engine falls back to the next model at once instead.
    """

    retries: int = 0
    backoff_base_s: float = 0.25
    backoff_max_s: float = 8.0
    jitter: float = 0.5
    max_retry_after_s: float = 10.0
    retry_on: frozenset[FallbackReason] = TRANSIENT_REASONS

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter must be within [0, 1], got {self.jitter}")
        if self.backoff_base_s < 0 or self.backoff_max_s < 0:
            raise ValueError("backoff_base_s and backoff_max_s must be >= 0")

    def delay_before_retry(
        self, reason: FallbackReason, retry: int, retry_after_s: float | None, rand: float
    ) -> float | None:
        """Seconds to wait before retry number `retry` (1-based), or None to fall back.

        `rand` is a uniform random number in [0, 1) supplied by the caller (seedable).
        """
        if reason not in self.retry_on or retry > self.retries:
            return None
        if retry_after_s is not None and retry_after_s > self.max_retry_after_s:
            return None
        backoff: float = min(self.backoff_max_s, self.backoff_base_s * 2.0 ** (retry - 1))
        backoff *= 1.0 - self.jitter * rand
        if retry_after_s is not None:
            backoff = max(backoff, retry_after_s)
        return backoff


@dataclass(frozen=True, slots=True)
class FallbackPolicy:
    """Which failures move on to the next model; the rest stop the request.

    By default everything falls back except the caller's own malformed request
    (`bad_request`), which another model would reject the same way.
    """

    stop_on: frozenset[FallbackReason] = TERMINAL_REASONS

    def falls_back(self, reason: FallbackReason) -> bool:
        """True when a failure with `reason` should try the next candidate."""
        return reason not in self.stop_on


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Time limits of a route, in seconds (None = no limit).

    `attempt_s` bounds one call; `deadline_s` the whole request including fallbacks and
    backoff; `first_token_s` a stream's time to first token; `stall_s` the longest gap
    between two stream chunks.
    """

    attempt_s: float | None = 60.0
    deadline_s: float | None = None
    first_token_s: float | None = None
    stall_s: float | None = None

    def __post_init__(self) -> None:
        for name in ("attempt_s", "deadline_s", "first_token_s", "stall_s"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0 seconds, got {value}")
