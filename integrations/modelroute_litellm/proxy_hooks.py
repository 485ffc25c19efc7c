"""The LiteLLM proxy loads `modelroute_litellm.proxy_hooks.handler` (`litellm_settings.callbacks`).

`handler` is a `ModelrouteCallback` (every call the proxy makes becomes modelroute records)
that also installs `ModelrouteStrategy` on the proxy's `litellm.Router` at the first request
(its `async_pre_call_hook`): the proxy has no config key for a custom routing strategy, and
its router exists only once the proxy has started. Both share breakers, latency estimates
and the pick journal. Settings come from the environment, read once when the proxy imports
this module:

- `MODELROUTE_DECISION_LOG`: path of the JSONL decision log (default: none, records go to
  the `modelroute` logger only);
- `MODELROUTE_THRESHOLDS`: comma-separated classifier cut points, e.g. `0.3` (default) or
  `0.3,0.7` for three tiers;
- `MODELROUTE_ROUTING`: `off` to record only and leave routing to LiteLLM;
- `MODELROUTE_USER_PSEUDONYM_KEY`: a secret; when set, records carry a keyed pseudonym of
  each user id instead of the id (`modelroute.privacy.UserRedaction.from_secret`): the
  same pseudonym a `Router` built with the same secret records.

The proxy's own venv needs `modelroute` importable (installed, or on `PYTHONPATH`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from modelroute.breaker import BreakerConfig, BreakerRegistry
from modelroute.privacy import UserRedaction
from modelroute.sinks import JsonlSink, LoggingSink, Sink, emit_transition_all
from modelroute.strategies.latency import LatencyTracker
from modelroute_litellm.callback import ModelrouteCallback, guarded
from modelroute_litellm.journal import PickJournal
from modelroute_litellm.strategy import ModelrouteStrategy, install_strategy


class ProxyHandler(ModelrouteCallback):
    """`ModelrouteCallback` plus the strategy, installed on the proxy's router on first use.

    `thresholds`: the strategy's cut points; `routing=False` records only.
    """

    def __init__(
        self,
        *,
        sinks: Sequence[Sink] = (),
        thresholds: Sequence[float] = (0.3,),
        routing: bool = True,
        breaker: BreakerConfig | None = None,
        redact_users: UserRedaction | None = None,
    ) -> None:
        sink_list = tuple(sinks)
        self.breakers = BreakerRegistry(
            breaker or BreakerConfig(), on_transition=lambda t: emit_transition_all(sink_list, t)
        )
        self.latency = LatencyTracker()
        self.journal = PickJournal()
        super().__init__(
            sinks=sink_list,
            observers=[self.latency],
            breakers=self.breakers,
            journal=self.journal,
            redact_users=redact_users,
        )
        self.thresholds = tuple(thresholds)
        self.routing = routing
        self.strategy: ModelrouteStrategy | None = None
        self._router: Any = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ProxyHandler:
        """A handler configured from `MODELROUTE_*` variables (see the module docstring)."""
        sinks: list[Sink] = [LoggingSink()]
        path = environ.get("MODELROUTE_DECISION_LOG")
        if path:
            sinks.append(JsonlSink(path))
        raw = environ.get("MODELROUTE_THRESHOLDS", "0.3")
        thresholds = tuple(float(part) for part in raw.split(",") if part.strip())
        routing = environ.get("MODELROUTE_ROUTING", "on").lower() not in ("off", "0", "false")
        secret = environ.get("MODELROUTE_USER_PSEUDONYM_KEY")
        redact = UserRedaction.from_secret(secret) if secret else None
        return cls(sinks=sinks, thresholds=thresholds, routing=routing, redact_users=redact)

    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: Any
    ) -> dict[str, Any]:
        """Before each proxy request: make sure the strategy routes the proxy's router."""
        with guarded("async_pre_call_hook"):
            if self.routing:
                from litellm.proxy import proxy_server

                self.ensure_strategy(proxy_server.llm_router)
        return data

    def ensure_strategy(self, router: Any) -> None:
        """Install the strategy on `router` unless it already routes it."""
        if router is None or router is self._router:
            return
        self.strategy = ModelrouteStrategy(
            router,
            thresholds=self.thresholds,
            breakers=self.breakers,
            latency=self.latency,
            journal=self.journal,
        )
        install_strategy(router, self.strategy)
        self._router = router


handler = ProxyHandler.from_env()
"""The instance the proxy config names."""
