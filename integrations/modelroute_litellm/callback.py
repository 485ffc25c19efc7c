"""`ModelrouteCallback`: a LiteLLM `CustomLogger` that records every LiteLLM call as modelroute
`Attempt`s and one `Decision` per request, for modelroute's sinks and observers.

Register it in `litellm.callbacks` (or the proxy's `litellm_settings.callbacks`). It works for
plain `litellm.completion`, for `litellm.Router` (its retries, cooldowns and fallbacks,
context-window fallbacks included) and for the proxy. The hooks it uses, and what LiteLLM
passes them:

| hook                                       | LiteLLM passes                 | used for           |
|--------------------------------------------|--------------------------------|--------------------|
| `log_pre_api_call`                         | model, messages, call kwargs   | a hop starts       |
| `(async_)log_success_event`                | kwargs, response, start, end   | a hop answered     |
| `(async_)log_failure_event`                | kwargs (with `exception`)      | a hop failed       |
| `async_post_call_failure_deployment_hook`  | the hop's request, exception   | every failed hop   |
| `log_failure_fallback_event`               | original group, kwargs, error  | fallbacks exhausted|
| `async_post_call_failure_hook` (proxy)     | request data, exception        | request failed     |

From the kwargs it reads `litellm_trace_id` (one per request, shared by every hop),
`litellm_call_id` (one per hop), `litellm_params.metadata` (`model_group`, `deployment`,
`model_info`), `optional_params` (tools, response_format), `response_cost` (LiteLLM's cost
of the hop) and the `exception`, mapped to a `FallbackReason` by `errors.map_exception`.
A hop reported on several paths is recorded once. With `redact_users` the records carry
the user's pseudonym (`modelroute.privacy`), exactly as `Router(redact_users=...)` does.
Importing this module imports LiteLLM.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from modelroute.breaker import BreakerRegistry
from modelroute.catalog import ModelInfo
from modelroute.clock import Clock
from modelroute.errors import ProviderError
from modelroute.guards import Tickets, asettle_all, settle_all
from modelroute.privacy import UserRedaction
from modelroute.records import Attempt
from modelroute.sinks import Sink
from modelroute_litellm.convert import to_response
from modelroute_litellm.deployments import mapping, model_info_for, request_from_kwargs
from modelroute_litellm.errors import map_exception
from modelroute_litellm.journal import PickJournal
from modelroute_litellm.recorder import CallFacts, TraceRecorder

logger = logging.getLogger("modelroute")


class ModelrouteCallback(CustomLogger):  # type: ignore[misc]
    """Turns LiteLLM's call events into modelroute records (see the module docstring).

    - `sinks`: receive one `Decision` per request (`JsonlSink`, `MemorySink`, ...).
    - `observers`: live events (an OTel observer, a `LatencyTracker`).
    - `breakers`: reported after every hop (share them with `ModelrouteStrategy`).
    - `journal`: the strategy's picks (share it with `ModelrouteStrategy`), so decisions
      carry the score, the tier and the deployments it skipped.
    - `baseline`: the model whose prices give each decision's counterfactual cost.
    - `settle_s`: seconds of silence after which a failed Router request with no end signal
      is recorded as exhausted (`flush()` records every open request at once).
    - `redact_users`: a `UserRedaction`; every `Decision` (so every sink, and spans made
      from it) shows its pseudonym of the request's `user` instead of the id. Pass the one
      given to `Router(redact_users=...)`: a user then has the same pseudonym on both paths.

    Its hooks never raise into LiteLLM: a failure is logged on the `modelroute` logger.
    """

    def __init__(
        self,
        *,
        sinks: Sequence[Sink] = (),
        observers: Sequence[object] = (),
        breakers: BreakerRegistry | None = None,
        journal: PickJournal | None = None,
        baseline: ModelInfo | None = None,
        clock: Clock | None = None,
        settle_s: float = 30.0,
        redact_users: UserRedaction | None = None,
    ) -> None:
        super().__init__()
        self.recorder = TraceRecorder(
            sinks=sinks,
            observers=observers,
            breakers=breakers,
            journal=journal,
            baseline=baseline,
            clock=clock,
            settle_s=settle_s,
            redact_users=redact_users,
        )

    def flush(self) -> int:
        """Record every open request now; returns how many were recorded."""
        return self.recorder.flush()

    def attempts_of(self, trace_id: str) -> tuple[Attempt, ...]:
        """Attempts recorded so far for an open request (by LiteLLM trace id)."""
        return self.recorder.attempts_of(trace_id)

    # -- a hop starts ------------------------------------------------------------------------

    def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
        """LiteLLM is about to send one HTTP request."""
        with guarded("log_pre_api_call"):
            facts = call_facts(kwargs)
            if facts is not None:
                self.recorder.begin(facts)

    async def async_log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
        """Async twin of `log_pre_api_call` (a hop is begun once)."""
        self.log_pre_api_call(model, messages, kwargs)

    # -- a hop answered ----------------------------------------------------------------------

    def log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """A hop answered (sync calls)."""
        with guarded("log_success_event"):
            attempt_tickets = self._success(kwargs, response_obj)
            if attempt_tickets is not None:
                settle_all(*attempt_tickets)

    async def async_log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """A hop answered (async calls)."""
        with guarded("async_log_success_event"):
            attempt_tickets = self._success(kwargs, response_obj)
            if attempt_tickets is not None:
                await asettle_all(*attempt_tickets)

    # -- a hop failed ------------------------------------------------------------------------

    def log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """A hop failed (sync calls)."""
        with guarded("log_failure_event"):
            attempt_tickets = self._failure(kwargs, mapping(kwargs).get("exception"))
            if attempt_tickets is not None:
                settle_all(*attempt_tickets)

    async def async_log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """A hop failed (async calls)."""
        with guarded("async_log_failure_event"):
            attempt_tickets = self._failure(kwargs, mapping(kwargs).get("exception"))
            if attempt_tickets is not None:
                await asettle_all(*attempt_tickets)

    async def async_post_call_failure_deployment_hook(
        self,
        request_data: Mapping[str, object],
        exception: Exception,
        call_type: Any,
        fallback_depth: int | None = None,
    ) -> None:
        """LiteLLM's per-hop failure hook: called for every failed deployment attempt, on the
        exception path, before the next hop starts."""
        with guarded("async_post_call_failure_deployment_hook"):
            attempt_tickets = self._failure(request_data, exception)
            if attempt_tickets is not None:
                await asettle_all(*attempt_tickets)

    # -- a request ended -----------------------------------------------------------------------

    async def log_failure_fallback_event(
        self, original_model_group: str, kwargs: dict[str, Any], original_exception: Exception
    ) -> None:
        """The Router tried every fallback of `original_model_group` and all failed."""
        with guarded("log_failure_fallback_event"):
            trace_id = trace_id_of(kwargs)
            if trace_id is not None:
                self.recorder.give_up(trace_id, original_model_group)

    async def async_post_call_failure_hook(
        self,
        request_data: dict[str, Any],
        original_exception: Exception,
        user_api_key_dict: Any,
        traceback_str: str | None = None,
    ) -> None:
        """The proxy answers a request with an error: nothing follows."""
        with guarded("async_post_call_failure_hook"):
            trace_id = trace_id_of(request_data)
            if trace_id is not None:
                self.recorder.give_up(trace_id)

    # -- internals ---------------------------------------------------------------------------

    def _success(self, kwargs: Any, response_obj: Any) -> tuple[Tickets, Attempt] | None:
        facts = call_facts(kwargs)
        if facts is None:
            return None
        data = mapping(kwargs)
        answer = data.get("complete_streaming_response") or response_obj
        response = to_response(answer)
        attempt, tickets = self.recorder.succeeded(
            facts, response, cost_usd=_cost(data, answer), ttft_s=_ttft(data)
        )
        return (tickets, attempt) if tickets and attempt is not None else None

    def _failure(self, kwargs: Any, exception: Any) -> tuple[Tickets, Attempt] | None:
        facts = call_facts(kwargs)
        if facts is None:
            return None
        data = mapping(kwargs)
        params = mapping(data.get("litellm_params"))
        secrets = tuple(str(s) for s in (data.get("api_key"), params.get("api_key")) if s)
        if isinstance(exception, BaseException):
            error = map_exception(exception, model=facts.model, secrets=secrets)
        else:
            error = ProviderError("LiteLLM reported a failure without an exception")
        # A call outside a Router has no fallback to come: its failure ends the request.
        attempt, tickets = self.recorder.failed(facts, error, final=facts.group is None)
        return (tickets, attempt) if tickets and attempt is not None else None


class guarded:
    """Logs and swallows an exception from a hook: telemetry must never break the call."""

    def __init__(self, hook: str) -> None:
        self.hook = hook

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if exc is not None and isinstance(exc, Exception):
            logger.exception("modelroute LiteLLM callback failed in %s", self.hook)
            return True
        return False


# -- reading LiteLLM's kwargs ------------------------------------------------------------------


def _metadata(data: Mapping[str, Any]) -> Mapping[str, Any]:
    params = mapping(data.get("litellm_params"))
    for source in (params.get("metadata"), data.get("metadata"), params.get("litellm_metadata")):
        found = mapping(source)
        if found:
            return found
    return {}


def trace_id_of(kwargs: Any) -> str | None:
    """LiteLLM's per-request trace id in call kwargs (or the call id when there is none)."""
    data = mapping(kwargs)
    params = mapping(data.get("litellm_params"))
    logged = mapping(data.get("standard_logging_object"))
    for value in (
        data.get("litellm_trace_id"),
        params.get("litellm_trace_id"),
        logged.get("trace_id"),
        _metadata(data).get("litellm_trace_id"),
        data.get("litellm_call_id"),
        params.get("litellm_call_id"),
    ):
        if value:
            return str(value)
    return None


def _model_of(data: Mapping[str, Any], metadata: Mapping[str, Any]) -> str:
    deployment = metadata.get("deployment")
    if isinstance(deployment, str) and deployment:
        return deployment
    model = str(data.get("model") or "")
    params = mapping(data.get("litellm_params"))
    provider = data.get("custom_llm_provider") or params.get("custom_llm_provider")
    if provider and model and not model.startswith(f"{provider}/"):
        return f"{provider}/{model}"
    return model


def call_facts(kwargs: Any) -> CallFacts | None:
    """The `CallFacts` of one LiteLLM call's kwargs, or None when they lack the ids."""
    data = mapping(kwargs)
    params = mapping(data.get("litellm_params"))
    call_id = data.get("litellm_call_id") or params.get("litellm_call_id")
    trace_id = trace_id_of(data)
    if not call_id or trace_id is None:
        return None
    metadata = _metadata(data)
    model = _model_of(data, metadata)
    info = mapping(metadata.get("model_info"))
    prices = {
        k: params[k] for k in ("input_cost_per_token", "output_cost_per_token") if params.get(k)
    }
    deployment = {"litellm_params": {"model": model, **prices}, "model_info": info}
    fields = {**mapping(data.get("optional_params")), **data}
    fields["metadata"] = metadata
    group = metadata.get("model_group")
    ident = data.get("model_id") or info.get("id")
    return CallFacts(
        trace_id=trace_id,
        call_id=str(call_id),
        model=model,
        info=model_info_for(deployment),
        group=str(group) if group else None,
        deployment_id=str(ident) if ident else None,
        request=request_from_kwargs(fields),
        stream=bool(data.get("stream")),
    )


def _cost(data: Mapping[str, Any], answer: Any) -> float:
    """LiteLLM's own cost of the hop: `response_cost`, else the logging payload's, else
    `litellm.completion_cost`, else 0."""
    for value in (
        data.get("response_cost"),
        mapping(data.get("standard_logging_object")).get("response_cost"),
    ):
        if isinstance(value, int | float):
            return float(value)
    try:
        import litellm

        return float(litellm.completion_cost(completion_response=answer))
    except Exception:
        return 0.0


def _ttft(data: Mapping[str, Any]) -> float | None:
    """Seconds to the first streamed chunk, from LiteLLM's `completion_start_time`."""
    if not data.get("stream"):
        return None
    start, first = data.get("start_time"), data.get("completion_start_time")
    if not isinstance(start, datetime) or not isinstance(first, datetime):
        return None
    return max(0.0, (first - start).total_seconds())
