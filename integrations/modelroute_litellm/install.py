"""`install(router, ...)`: the routing strategy and the callback on one `litellm.Router`,
sharing their breakers, latency estimates and pick journal.

    from modelroute.sinks import JsonlSink
    from modelroute_litellm.install import install

    hooks = install(router, sinks=[JsonlSink("decisions.jsonl")])
    await router.acompletion(model="chat", messages=[...])
    hooks.uninstall()   # takes the callback out of `litellm.callbacks` again

Importing this module imports LiteLLM.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from modelroute.breaker import BreakerConfig, BreakerRegistry
from modelroute.catalog import ModelInfo
from modelroute.clock import Clock, SystemClock
from modelroute.guards import AttemptGuard
from modelroute.privacy import UserRedaction
from modelroute.sinks import Sink, emit_transition_all
from modelroute.strategies.latency import LatencyTracker
from modelroute.strategies.threshold import Scorer
from modelroute_litellm.callback import ModelrouteCallback
from modelroute_litellm.journal import PickJournal
from modelroute_litellm.strategy import ModelrouteStrategy, install_strategy
from modelroute_litellm.tokens import load_litellm


@dataclass
class Installed:
    """What `install` set up; `uninstall()` removes the callback from `litellm.callbacks`
    (the strategy stays until the router's routing strategy changes)."""

    strategy: ModelrouteStrategy
    callback: ModelrouteCallback
    breakers: BreakerRegistry
    latency: LatencyTracker
    journal: PickJournal
    hook: str

    def uninstall(self) -> None:
        """Take the callback out of `litellm.callbacks` and the lists LiteLLM copied it to."""
        remove_callback(self.callback)


def remove_callback(callback: object) -> None:
    """Remove `callback` from `litellm.callbacks` and from every list LiteLLM copies
    callbacks into on first use (`success_callback`, `_async_success_callback`, ...)."""
    litellm = load_litellm()
    for name in dir(litellm):
        if "callback" not in name.lower():
            continue
        value = getattr(litellm, name, None)
        if isinstance(value, list) and any(c is callback for c in value):
            setattr(litellm, name, [c for c in value if c is not callback])


def install(
    router: Any,
    *,
    sinks: Sequence[Sink] = (),
    observers: Sequence[object] = (),
    scorer: Scorer | None = None,
    thresholds: Sequence[float] = (0.3,),
    breaker: BreakerConfig | None = None,
    guards: Sequence[AttemptGuard] = (),
    baseline: ModelInfo | None = None,
    clock: Clock | None = None,
    settle_s: float = 30.0,
    redact_users: UserRedaction | None = None,
) -> Installed:
    """Install `ModelrouteStrategy` on `router` and add a `ModelrouteCallback` to
    `litellm.callbacks`, wired together (see their docs for the arguments). Breaker
    transitions go to the sinks that take them. `redact_users` puts each user's pseudonym
    in the records (`modelroute.privacy.UserRedaction`)."""
    clock = clock or SystemClock()
    sink_list = tuple(sinks)
    breakers = BreakerRegistry(
        breaker or BreakerConfig(),
        on_transition=lambda t: emit_transition_all(sink_list, t),
    )
    latency = LatencyTracker()
    journal = PickJournal()
    strategy = ModelrouteStrategy(
        router,
        scorer=scorer,
        thresholds=thresholds,
        breakers=breakers,
        latency=latency,
        guards=guards,
        journal=journal,
        clock=clock,
    )
    callback = ModelrouteCallback(
        sinks=sink_list,
        observers=(latency, *observers),
        breakers=breakers,
        journal=journal,
        baseline=baseline,
        clock=clock,
        settle_s=settle_s,
        redact_users=redact_users,
    )
    hook = install_strategy(router, strategy)
    litellm = load_litellm()
    litellm.callbacks = [*litellm.callbacks, callback]  # type: ignore[attr-defined]
    return Installed(strategy, callback, breakers, latency, journal, hook)
