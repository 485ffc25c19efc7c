"""`ModelrouteStrategy`: picks the deployment within a `litellm.Router` model group.

LiteLLM calls `async_get_available_deployment` (or the sync `get_available_deployment`) with
the model group and the request kwargs; the strategy returns one of the group's deployment
dicts, as LiteLLM expects. It decides with modelroute's pieces:

1. tiers: the group's deployments ordered by `model_info.modelroute_tier`, else by price;
2. a classifier (`HeuristicComplexity` scored against `thresholds`, see `ScoreThreshold`)
   names the starting tier; stronger tiers follow, weaker ones come last;
3. within a tier, the lowest latency estimate first (`LatencyTracker`, unknown first);
4. each candidate must have the capabilities the request needs (tools, vision, JSON schema),
   a context window that fits the prompt (`litellm.token_counter`), a breaker that admits the
   call (`BreakerRegistry`), and the guards' (budgets, rate limits) admission.

When no deployment fits, it raises what LiteLLM's own fallbacks act on:
`ContextWindowExceededError` when every deployment was too small (LiteLLM's
`context_window_fallbacks` then move the request to a larger group), else
`ServiceUnavailableError` (generic `fallbacks`). Each decision is a `journal.Pick`, kept in the
`PickJournal` the `ModelrouteCallback` reads, so the request's `Decision` carries the score,
tier and skipped deployments. Install with `install_strategy(router, strategy)`.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any

from litellm.types.router import CustomRoutingStrategyBase

from modelroute.breaker import Admission, BreakerRegistry
from modelroute.catalog import Catalog, ModelInfo, TokenCounter
from modelroute.clock import Clock, SystemClock
from modelroute.errors import LimitExceeded
from modelroute.guards import AttemptGuard, Tickets, aadmit_all, admit_all
from modelroute.reasons import FallbackReason
from modelroute.strategies.complexity import HeuristicComplexity
from modelroute.strategies.latency import LatencyTracker
from modelroute.strategies.threshold import Scorer, ScoreThreshold
from modelroute.types import Request
from modelroute_litellm.deployments import (
    deployment_id,
    deployment_key,
    deployment_tier,
    model_info_for,
    request_from_kwargs,
)
from modelroute_litellm.journal import Pick, PickJournal, Skip
from modelroute_litellm.tokens import litellm_token_counter

logger = logging.getLogger("modelroute")

Deployment = Mapping[str, Any]
_Walk = Generator[ModelInfo, "Tickets | LimitExceeded", "tuple[Pick, Deployment | None]"]


def install_strategy(router: Any, strategy: CustomRoutingStrategyBase) -> str:
    """Make `strategy` pick every deployment of `router`; returns the hook used.

    `router.register_plugin` (LiteLLM 1.110) when the router has it, else the older
    `set_custom_routing_strategy` (LiteLLM 1.108). Detected, not assumed from a version.
    """
    register = getattr(router, "register_plugin", None)
    if callable(register):
        register(strategy)
        return "register_plugin"
    router.set_custom_routing_strategy(strategy)
    return "set_custom_routing_strategy"


class ModelrouteStrategy(CustomRoutingStrategyBase):  # type: ignore[misc]
    """A LiteLLM custom routing strategy driven by modelroute's classifier, breakers,
    latency estimates and guards. Shared by every request: per-request state goes to the
    journal, never onto the strategy.

    - `router`: the `litellm.Router` whose group deployments are listed.
    - `scorer`, `thresholds`: request -> score in [0, 1]; ascending cut points, one fewer
      than a group's tiers (a one-tier group is not scored). Default one cut at 0.3.
    - `breakers`: circuit breakers by deployment key (the callback reports the outcomes).
    - `latency`: latency estimates by deployment key (the callback feeds it).
    - `guards`: budget and rate-limit guards admitted before each pick (the callback settles).
    - `journal`: where picks and held admissions go (share it with the callback).
    - `token_counter`: (LiteLLM model, request) -> input tokens; `litellm.token_counter`.
    - `on_pick`: called with every `Pick` (e.g. to log it); its errors are logged, not raised.
    """

    name = "modelroute"

    def __init__(
        self,
        router: Any,
        *,
        scorer: Scorer | None = None,
        thresholds: Sequence[float] = (0.3,),
        breakers: BreakerRegistry | None = None,
        latency: LatencyTracker | None = None,
        guards: Sequence[AttemptGuard] = (),
        journal: PickJournal | None = None,
        token_counter: TokenCounter | None = None,
        clock: Clock | None = None,
        on_pick: Callable[[Pick], None] | None = None,
    ) -> None:
        self.router = router
        self.scorer: Scorer = scorer or HeuristicComplexity()
        self.thresholds = tuple(thresholds)
        ScoreThreshold(self.scorer, self.thresholds)  # validates the order now
        self.breakers = breakers
        self.latency = latency
        self.guards = tuple(guards)
        self.journal = journal if journal is not None else PickJournal()
        self.token_counter: TokenCounter = token_counter or litellm_token_counter
        self.clock: Clock = clock or SystemClock()
        self.on_pick = on_pick

    # -- LiteLLM's interface ---------------------------------------------------------------

    async def async_get_available_deployment(  # type: ignore[override]
        self,
        model: str,
        messages: list[dict[str, str]] | None = None,
        input: str | list[object] | None = None,
        specific_deployment: bool | None = False,
        request_kwargs: dict[str, object] | None = None,
    ) -> Deployment:
        """The deployment of group `model` for this request (LiteLLM's async pick)."""
        kwargs = _kwargs_with(request_kwargs, messages)
        fixed = self._specific(model, specific_deployment)
        if fixed is not None:
            return fixed
        request = request_from_kwargs(kwargs)
        walk = self._walk(model, self._deployments(model), kwargs, request)
        try:
            info = next(walk)
            while True:
                try:
                    result: Tickets | LimitExceeded = (
                        await aadmit_all(self.guards, request, info) if request else []
                    )
                except LimitExceeded as exc:
                    result = exc
                info = walk.send(result)
        except StopIteration as stop:
            return self._finish(*stop.value)

    def get_available_deployment(  # type: ignore[override]
        self,
        model: str,
        messages: list[dict[str, str]] | None = None,
        input: str | list[object] | None = None,
        specific_deployment: bool | None = False,
        request_kwargs: dict[str, object] | None = None,
    ) -> Deployment:
        """Sync twin of `async_get_available_deployment`."""
        kwargs = _kwargs_with(request_kwargs, messages)
        fixed = self._specific(model, specific_deployment)
        if fixed is not None:
            return fixed
        request = request_from_kwargs(kwargs)
        walk = self._walk(model, self._deployments(model), kwargs, request)
        try:
            info = next(walk)
            while True:
                try:
                    result: Tickets | LimitExceeded = (
                        admit_all(self.guards, request, info) if request else []
                    )
                except LimitExceeded as exc:
                    result = exc
                info = walk.send(result)
        except StopIteration as stop:
            return self._finish(*stop.value)

    # -- the decision (sans-IO: guard admission is done by the caller above) ----------------

    def rank(
        self, group: str, deployments: Sequence[Deployment], request: Request | None
    ) -> tuple[list[Deployment], Pick]:
        """The group's deployments in the order they will be tried, and the scored pick
        (without `deployment_id`, `model` and `skipped`, which the walk fills in)."""
        ordered = sorted(enumerate(deployments), key=lambda p: (deployment_tier(p[1]), p[0]))
        tiers = [
            [d for _, d in group_items]
            for _, group_items in itertools.groupby(ordered, key=lambda p: deployment_tier(p[1]))
        ]
        labels = tuple(model_info_for(t[0]).name for t in tiers)
        start, score, threshold, reason = 0, None, None, "one tier"
        if len(tiers) > 1 and request is not None:
            if len(self.thresholds) != len(tiers) - 1:
                raise ValueError(
                    f"modelroute strategy: group {group!r} has {len(tiers)} tiers, which need "
                    f"{len(tiers) - 1} thresholds; got {len(self.thresholds)}"
                )
            ranking = ScoreThreshold(self.scorer, self.thresholds).rank(request, labels, Catalog())
            start = labels.index(ranking.models[0])
            score, threshold, reason = ranking.score, ranking.threshold, ranking.reason
        walk_order = [*tiers[start:], *reversed(tiers[:start])]
        candidates = [d for tier in walk_order for d in self._by_latency(tier)]
        pick = Pick(
            trace_id=None,
            group=group,
            deployment_id=None,
            model=None,
            candidates=tuple(model_info_for(d).name for tier in tiers for d in tier),
            strategy=self.name,
            reason=reason,
            score=score,
            threshold=threshold,
            tier=labels[start] if labels else None,
        )
        return candidates, pick

    def _walk(
        self,
        group: str,
        deployments: Sequence[Deployment],
        kwargs: Mapping[str, Any],
        request: Request | None,
    ) -> _Walk:
        """Yields each candidate that passes the static checks and its breaker, and receives
        the guards' tickets (or their refusal); returns the pick and the chosen deployment."""
        candidates, pick = self.rank(group, deployments, request)
        trace_id = kwargs.get("litellm_trace_id")
        aliases = (str(kwargs["litellm_call_id"]),) if kwargs.get("litellm_call_id") else ()
        skipped: list[Skip] = []
        tokens: dict[str, int] = {}
        for deployment in candidates:
            info = model_info_for(deployment)
            problem = self._static_problem(info, request, tokens)
            admission = None
            if problem is None:
                admission, problem = self._admit_breaker(deployment)
            if problem is None:
                result = yield info
                if isinstance(result, LimitExceeded):
                    self._release(deployment, admission)
                    problem = (result.reason, str(result))
                else:
                    chosen = _replace(
                        pick,
                        trace_id=str(trace_id) if trace_id else None,
                        deployment_id=deployment_id(deployment),
                        model=info.name,
                        skipped=tuple(skipped),
                    )
                    self._hold(chosen, deployment, admission, result, aliases)
                    return chosen, deployment
            reason, detail = problem
            skipped.append(Skip(info.name, info.provider, str(reason), detail))
        failed = _replace(
            pick, trace_id=str(trace_id) if trace_id else None, skipped=tuple(skipped)
        )
        self._hold(failed, None, None, [], aliases)
        return failed, None

    def _static_problem(
        self, info: ModelInfo, request: Request | None, tokens: dict[str, int]
    ) -> tuple[str, str] | None:
        if request is None:
            return None
        missing = info.missing_capability(request)
        if missing is not None:
            return FallbackReason.CAPABILITY, f"model lacks {missing}"
        if info.max_input_tokens is not None:
            if info.call_name not in tokens:
                tokens[info.call_name] = self.token_counter(info.call_name, request)
            count = tokens[info.call_name]
            if count > info.max_input_tokens:
                detail = f"~{count} input tokens > context window {info.max_input_tokens}"
                return FallbackReason.CONTEXT_WINDOW, detail
        return None

    def _admit_breaker(
        self, deployment: Deployment
    ) -> tuple[Admission | None, tuple[str, str] | None]:
        if self.breakers is None:
            return None, None
        admission = self.breakers.get(deployment_key(deployment)).try_acquire(self.clock.now())
        if not admission.allowed:
            return None, (FallbackReason.CIRCUIT_OPEN, f"breaker {admission.state}")
        return admission, None

    def _release(self, deployment: Deployment, admission: Admission | None) -> None:
        if self.breakers is not None and admission is not None:
            self.breakers.get(deployment_key(deployment)).release(admission)

    def _hold(
        self,
        pick: Pick,
        deployment: Deployment | None,
        admission: Admission | None,
        tickets: Tickets,
        aliases: tuple[str, ...],
    ) -> None:
        if pick.trace_id is None and deployment is not None:
            # No trace id to join the call on: nothing can report it, so hold nothing.
            self._release(deployment, admission)
            return
        key = deployment_key(deployment) if deployment is not None else None
        self.journal.record(pick, key=key, admission=admission, tickets=tickets, aliases=aliases)

    def _finish(self, pick: Pick, deployment: Deployment | None) -> Deployment:
        if self.on_pick is not None:
            try:
                self.on_pick(pick)
            except Exception:  # telemetry must never break the user's call
                logger.exception("modelroute on_pick hook failed")
        if deployment is not None:
            return deployment
        raise _no_deployment_error(pick)

    # -- helpers -----------------------------------------------------------------------------

    def _by_latency(self, tier: list[Deployment]) -> list[Deployment]:
        if self.latency is None:
            return tier
        tracker = self.latency

        def key(item: tuple[int, Deployment]) -> tuple[float, int]:
            est = tracker.estimate(deployment_key(item[1]))
            return (-math.inf if est is None else est, item[0])

        return [d for _, d in sorted(enumerate(tier), key=key)]

    def _deployments(self, group: str) -> list[Deployment]:
        registry = getattr(self.router, "registry", None)
        if callable(registry):
            found = registry().deployments(group)
        else:
            found = self.router.get_model_list(model_name=group)
        deployments = [d for d in found or () if isinstance(d, Mapping)]
        if not deployments:
            raise ValueError(f"modelroute strategy: no deployments in model group {group!r}")
        return deployments

    def _specific(self, model: str, specific: bool | None) -> Deployment | None:
        """A deployment asked for by its id (`specific_deployment=True`)."""
        if not specific:
            return None
        registry = getattr(self.router, "registry", None)
        if callable(registry):
            found = registry().deployment_dict(model)
        else:
            found = self.router.get_model_info(id=model)
        return found if isinstance(found, Mapping) else None


def _kwargs_with(
    request_kwargs: Mapping[str, Any] | None, messages: list[dict[str, str]] | None
) -> dict[str, Any]:
    kwargs = dict(request_kwargs or {})
    if messages is not None and not kwargs.get("messages"):
        kwargs["messages"] = messages
    return kwargs


def _replace(pick: Pick, **changes: Any) -> Pick:
    from dataclasses import replace

    return replace(pick, **changes)


def _no_deployment_error(pick: Pick) -> Exception:
    """The LiteLLM exception whose fallbacks fit why no deployment of the group was usable."""
    from litellm.exceptions import ContextWindowExceededError, ServiceUnavailableError

    reasons = {s.reason for s in pick.skipped}
    detail = "; ".join(f"{s.model}: {s.reason} ({s.detail})" for s in pick.skipped)
    message = f"modelroute: no deployment of group {pick.group!r} fits: {detail}"
    if reasons == {FallbackReason.CONTEXT_WINDOW.value}:
        return ContextWindowExceededError(
            message=message, model=pick.group, llm_provider="modelroute"
        )
    return ServiceUnavailableError(message=message, model=pick.group, llm_provider="modelroute")
