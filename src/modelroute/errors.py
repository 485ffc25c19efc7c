"""The error tree. Every error modelroute raises is a `ModelRouteError`.

Provider exceptions are mapped into `ProviderError` subclasses at the backend seam, so
the engine and callers see one tree whatever the provider SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelroute.reasons import FallbackReason

if TYPE_CHECKING:
    from modelroute.records import Attempt, Decision


class ModelRouteError(Exception):
    """Base of every error modelroute raises."""


class ConfigError(ModelRouteError, ValueError):
    """Invalid configuration.

    `path` names the config location, e.g. `routes.summarize.models[1]`.
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


class UnknownModelError(ConfigError):
    """A route or setting names a model the catalog does not know."""

    def __init__(self, path: str, model: str) -> None:
        self.model = model
        super().__init__(path, f"unknown model {model!r}")


class ProviderError(ModelRouteError):
    """A provider call failed. Raised by backends, handled by the engine.

    `reason` is the fallback reason; `status_code` the HTTP status when there was one;
    `retry_after` the provider's Retry-After in seconds, if given.
    """

    reason: FallbackReason = FallbackReason.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = message
        self.model = model
        self.status_code = status_code
        self.retry_after = retry_after
        super().__init__(message)


class RateLimited(ProviderError):
    """429 or a provider's rate-limit error."""

    reason = FallbackReason.RATE_LIMITED


class ProviderTimeout(ProviderError):
    """The call did not finish within its timeout."""

    reason = FallbackReason.TIMEOUT


class ProviderUnavailable(ProviderError):
    """5xx, overloaded or service unavailable."""

    reason = FallbackReason.UNAVAILABLE


class ProviderConnectionError(ProviderError):
    """The connection failed or dropped before a response."""

    reason = FallbackReason.CONNECTION


class AuthenticationFailed(ProviderError):
    """401/403: the key is missing, wrong or lacks access."""

    reason = FallbackReason.AUTH


class ContextWindowExceeded(ProviderError):
    """The input does not fit the model's context window."""

    reason = FallbackReason.CONTEXT_WINDOW


class ContentFiltered(ProviderError):
    """The provider's content policy refused the request."""

    reason = FallbackReason.CONTENT_FILTER


class ModelNotFound(ProviderError):
    """404/410: the model does not exist, was retired or renamed."""

    reason = FallbackReason.MODEL_NOT_FOUND


class BadRequest(ProviderError):
    """The caller's own malformed request (400). Terminal: no fallback, no breaker count."""

    reason = FallbackReason.BAD_REQUEST


class InvalidRequest(BadRequest, ValueError):
    """A request the caller built wrong, refused before any model is called: no attempt,
    no cost, no breaker count (every model would fail the same way).

    `field` names the culprit, e.g. `messages[2].content` or `json_schema.type`; `problem`
    says what is wrong with it. Raised by `Request.of`, `Message` and the router's check of
    each request (`modelroute.request_check`).
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}" if field else problem)

    def within(self, prefix: str) -> InvalidRequest:
        """The same problem with its field put under `prefix` (`messages[2]` + `content`)."""
        field = f"{prefix}.{self.field}" if self.field else prefix
        return InvalidRequest(field, self.problem)


class StreamStalled(ProviderError):
    """A stream sent nothing for longer than the stall limit (seconds)."""

    reason = FallbackReason.STREAM_STALLED


class FirstTokenTimeout(ProviderError):
    """A stream's first token did not arrive within the time-to-first-token limit."""

    reason = FallbackReason.FIRST_TOKEN_TIMEOUT


class StreamBroken(ProviderError):
    """A stream ended abnormally (cut, malformed chunk, no end marker)."""

    reason = FallbackReason.STREAM_INTERRUPTED


class AllAttemptsFailed(ModelRouteError):
    """No model produced an acceptable answer. `attempts` holds every attempt, in order,
    including skipped models; `decision` is the full record of the request."""

    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        self.attempts: tuple[Attempt, ...] = decision.attempts
        parts = [f"{a.model}: {a.reason or a.outcome}" for a in self.attempts]
        detail = "; ".join(parts) if parts else "no candidate models"
        super().__init__(f"route {decision.route!r}: all attempts failed ({detail})")


class StreamInterrupted(ModelRouteError):
    """A stream failed after its first chunk reached the caller, so it cannot fall back.

    `partial_text` is what the caller already received; `decision` records every attempt.
    """

    def __init__(self, partial_text: str, decision: Decision, cause: str) -> None:
        self.partial_text = partial_text
        self.decision = decision
        self.attempts: tuple[Attempt, ...] = decision.attempts
        super().__init__(
            f"route {decision.route!r}: stream interrupted after "
            f"{len(partial_text)} characters ({cause})"
        )


class StreamRejected(StreamInterrupted):
    """A stream finished, but its answer failed a validator after text reached the caller.

    Nothing broke, yet no fallback is possible: the caller already holds `partial_text`
    (the whole answer). `reason` is the fallback reason, e.g. `invalid_output:too_short`.
    Only the empty check can still fall back on a stream (an empty answer delivers
    nothing); validate a non-streamed call to fall back on any other verdict.
    """

    def __init__(self, partial_text: str, decision: Decision, cause: str) -> None:
        super().__init__(partial_text, decision, cause)
        self.reason = cause
        self.args = (
            f"route {decision.route!r}: the streamed answer failed validation ({cause}) "
            f"after {len(partial_text)} characters reached the caller; a stream cannot "
            "fall back once text was delivered (call complete()/acomplete() to fall back "
            "on invalid answers)",
        )


class UnknownRouteError(ModelRouteError, KeyError):
    """A request named a route the router does not have."""

    def __init__(self, route: str, known: tuple[str, ...]) -> None:
        self.route = route
        self.known = known
        super().__init__(f"unknown route {route!r} (known: {', '.join(known)})")

    def __str__(self) -> str:
        return str(self.args[0])


class LimitExceeded(ModelRouteError):
    """A rate limit or budget refused a call before it was made.

    `reason` is a reason string such as `budget_exceeded` or `rate_limit:rpm`;
    `retry_after_s` says when the limit frees up (seconds, if known). When `fallback` is
    True the engine skips this model and tries the next candidate (a per-model limit);
    otherwise the request stops and this error is raised with `decision` set.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        retry_after_s: float | None = None,
        fallback: bool = False,
    ) -> None:
        self.reason = reason
        self.retry_after_s = retry_after_s
        self.fallback = fallback
        self.decision: Decision | None = None
        super().__init__(message)

    @property
    def attempts(self) -> tuple[Attempt, ...]:
        """Every attempt of the refused request (empty before the engine sets `decision`)."""
        return self.decision.attempts if self.decision is not None else ()


class BudgetExceeded(LimitExceeded):
    """A USD budget refused a call: its estimated cost does not fit what is left.

    `scope` and `key` name whose budget (`team`, `t1`); `period` is `day` or `month`, or
    `request` for the per-request cap. USD amounts: `limit_usd`, `spent_usd` (settled
    calls), `reserved_usd` (calls in flight), `estimate_usd` (this call's reservation);
    `remaining_usd` = limit - spent - reserved. `reset_at` is the period's end (epoch
    seconds; None for the per-request cap). `model` is the refused model.
    """

    def __init__(
        self,
        message: str,
        *,
        scope: str,
        key: str,
        period: str,
        limit_usd: float,
        spent_usd: float,
        reserved_usd: float,
        estimate_usd: float,
        model: str,
        reset_at: float | None = None,
        retry_after_s: float | None = None,
        fallback: bool = False,
        reason: str = "budget_exceeded",
    ) -> None:
        self.scope = scope
        self.key = key
        self.period = period
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        self.reserved_usd = reserved_usd
        self.estimate_usd = estimate_usd
        self.model = model
        self.reset_at = reset_at
        super().__init__(message, reason=reason, retry_after_s=retry_after_s, fallback=fallback)

    @property
    def remaining_usd(self) -> float:
        """What is left of the budget now: limit - spent - reserved (never below 0)."""
        return max(0.0, self.limit_usd - self.spent_usd - self.reserved_usd)


class RateLimitExceeded(LimitExceeded):
    """One of our own rate limits refused a call (not the provider's 429).

    `scope` and `key` name whose limit (`user`, `u1`); `dimension` is `requests` or
    `tokens`; `limit` counts per `window_s` seconds. `retry_after_s` is when enough
    capacity is back (None when the call alone is larger than the limit).
    """

    def __init__(
        self,
        message: str,
        *,
        scope: str,
        key: str,
        dimension: str,
        limit: int,
        window_s: float,
        model: str,
        retry_after_s: float | None,
        fallback: bool = False,
    ) -> None:
        self.scope = scope
        self.key = key
        self.dimension = dimension
        self.limit = limit
        self.window_s = window_s
        self.model = model
        super().__init__(
            message,
            reason=f"rate_limit:{dimension}",
            retry_after_s=retry_after_s,
            fallback=fallback,
        )


class LimitStoreUnavailable(LimitExceeded):
    """The limit store (e.g. Redis) could not be reached and limits are set to fail closed."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="rate_limit:store_unavailable", fallback=False)


class InputTooLong(ModelRouteError):
    """A request exceeds its route's `max_input_tokens` and the route has no overflow route."""

    def __init__(self, route: str, input_tokens: int, limit: int) -> None:
        self.route = route
        self.input_tokens = input_tokens
        self.limit = limit
        super().__init__(
            f"route {route!r}: ~{input_tokens} input tokens exceed max_input_tokens {limit}"
        )
