"""The public entry point: `Router` sends a request through a route and returns the
answer with the `Decision` that explains it."""

from __future__ import annotations

import os
import random
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from modelroute.backend import Backend
from modelroute.breaker import BreakerConfig, BreakerRegistry
from modelroute.catalog import Catalog, ModelInfo
from modelroute.clock import Clock, SystemClock
from modelroute.drivers import run_astream, run_async, run_stream, run_sync
from modelroute.errors import ConfigError, InputTooLong, UnknownModelError, UnknownRouteError
from modelroute.guards import AttemptGuard
from modelroute.observer import Observers
from modelroute.plan import Plan
from modelroute.privacy import UserRedaction
from modelroute.records import BreakerTransition, Decision
from modelroute.request_check import check_request
from modelroute.route import Route
from modelroute.rules import RouteRule
from modelroute.shadow import ShadowRunner
from modelroute.sinks import Sink, emit_all, emit_transition_all
from modelroute.types import Message, Request, Response, StreamChunk
from modelroute.validators import validators_for_request

if TYPE_CHECKING:
    from modelroute.config import RouterConfig

RequestLike = Request | str | Sequence[Message | Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class RoutedResponse:
    """An answer and the decision record of how it was obtained."""

    response: Response
    decision: Decision

    @property
    def text(self) -> str:
        """The answer's text."""
        return self.response.text


class RoutedAsyncStream:
    """Async iterator of `StreamChunk`s; `decision` is set once the stream has ended.

    Stopping early is a cancellation, recorded as such: `aclose()`, leaving an `async with`
    block, cancelling the consuming task, or dropping the stream (ended when collected).
    """

    def __init__(self, chunks: AsyncIterator[StreamChunk], holder: list[Decision]) -> None:
        self._chunks = chunks
        self._holder = holder

    def __aiter__(self) -> AsyncIterator[StreamChunk]:
        return self._chunks

    async def aclose(self) -> None:
        """Stop the stream early (the attempt is released, not counted as a failure)."""
        aclose = getattr(self._chunks, "aclose", None)
        if aclose is not None:
            await aclose()

    async def __aenter__(self) -> RoutedAsyncStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def decision(self) -> Decision | None:
        """The request's decision, or None while the stream is still running."""
        return self._holder[0] if self._holder else None


class RoutedStream:
    """Sync iterator of `StreamChunk`s; `decision` is set once the stream has ended.

    Stopping early (`close()`, leaving a `with` block, dropping it) is a cancellation.
    """

    def __init__(self, chunks: Iterator[StreamChunk], holder: list[Decision]) -> None:
        self._chunks = chunks
        self._holder = holder

    def __iter__(self) -> Iterator[StreamChunk]:
        return self._chunks

    def close(self) -> None:
        """Stop the stream early."""
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> RoutedStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def decision(self) -> Decision | None:
        """The request's decision, or None while the stream is still running."""
        return self._holder[0] if self._holder else None


class Router:
    """Routes requests over named routes of models, with fallbacks and circuit breakers.

    `routes` are `Route` objects (the first is the default unless `default_route` is
    given); every model they name must be in `catalog` (else `UnknownModelError`
    naming `routes.<route>.models[<i>]`). `baseline` names the model whose price gives
    each decision's counterfactual cost. Records go to `sinks`. `clock` is injectable
    for tests (`modelroute.clock.FakeClock`); `seed` makes backoff jitter repeatable.
    `redact_users` (a `modelroute.privacy.UserRedaction`) puts a pseudonym instead of each
    request's user id in its record, so every sink and span shows the same pseudonym.
    """

    def __init__(
        self,
        routes: Iterable[Route],
        *,
        backend: Backend,
        catalog: Catalog,
        baseline: str | None = None,
        default_route: str | None = None,
        sinks: Sequence[Sink] = (),
        clock: Clock | None = None,
        breaker: BreakerConfig | None = None,
        breaker_overrides: Mapping[str, BreakerConfig] | None = None,
        seed: int | None = None,
        observers: Sequence[object] = (),
        guards: Sequence[AttemptGuard] = (),
        rules: Sequence[RouteRule] = (),
        redact_users: UserRedaction | None = None,
    ) -> None:
        self.routes: dict[str, Route] = {r.name: r for r in routes}
        if not self.routes:
            raise ValueError("a router needs at least one route")
        for route in self.routes.values():
            for i, name in enumerate(route.models):
                if name not in catalog:
                    raise UnknownModelError(f"routes.{route.name}.models[{i}]", name)
            if route.verifier is not None and route.verifier.model not in catalog:
                path = f"routes.{route.name}.verifier.model"
                raise UnknownModelError(path, route.verifier.model)
            if route.shadow is not None and route.shadow.model not in catalog:
                raise UnknownModelError(f"routes.{route.name}.shadow.model", route.shadow.model)
        self.catalog = catalog
        self.backend = backend
        self.baseline: ModelInfo | None = catalog.get(baseline, "baseline") if baseline else None
        self.default_route = default_route or next(iter(self.routes))
        if self.default_route not in self.routes:
            raise UnknownRouteError(self.default_route, tuple(self.routes))
        self.sinks: tuple[Sink, ...] = tuple(sinks)
        self.clock: Clock = clock or SystemClock()
        self.breakers = BreakerRegistry(
            breaker or BreakerConfig(),
            on_transition=self._on_transition,
            overrides=breaker_overrides,
        )
        self._rng = random.Random(seed)
        self.observers = Observers(observers)
        self.guards: tuple[AttemptGuard, ...] = tuple(guards)
        self.shadows = ShadowRunner(self.sinks, self.guards)  # routes' shadow copies
        self.rules: tuple[RouteRule, ...] = tuple(rules)
        self.redact_users = redact_users
        for i, rule in enumerate(self.rules):
            if rule.route not in self.routes:
                raise ConfigError(f"rules[{i}].route", f"unknown route {rule.route!r}")
        for route in self.routes.values():
            if route.overflow_route is not None and route.overflow_route not in self.routes:
                path = f"routes.{route.name}.overflow_route"
                raise ConfigError(path, f"unknown route {route.overflow_route!r}")

    @classmethod
    def from_config(
        cls,
        config: str | os.PathLike[str] | Mapping[str, Any] | RouterConfig,
        *,
        backend: Backend | None = None,
        clock: Clock | None = None,
        sinks: Sequence[Sink] = (),
        observers: Sequence[object] = (),
        guards: Sequence[AttemptGuard] = (),
        seed: int | None = None,
    ) -> Router:
        """Build a router from a YAML file path, a dict or a `RouterConfig`.

        The keyword arguments are those of `Router` a config cannot hold: `sinks` (the
        config's `decision_log` is added after them), `observers` (e.g. an
        `OTelObserver`), `guards` (after the config's `limits` guard), `seed`.
        Raises `ConfigError` naming the exact config path of the first problem.
        The backend defaults to `modelroute_litellm.LiteLLMBackend` (needs the
        `litellm` extra).
        """
        from modelroute.config import build_router, load_config

        return build_router(
            load_config(config),
            backend=backend,
            clock=clock,
            sinks=sinks,
            observers=observers,
            guards=guards,
            seed=seed,
        )

    # -- public calls -----------------------------------------------------------

    # Each call takes two optional per-request extras: `backend` answers this request
    # instead of the router's own (an adapter passes one bound to its caller's context,
    # e.g. LangChain's parent run), and `observers` join the router's for this request.

    async def acomplete(
        self,
        request: RequestLike,
        *,
        route: str | None = None,
        backend: Backend | None = None,
        observers: Sequence[object] = (),
    ) -> RoutedResponse:
        """Answer `request` through `route`. Raises `AllAttemptsFailed` (every attempt
        inside) when no model gives an acceptable answer."""
        plan = self._plan(request, route, stream=False, observers=observers)
        done = await run_async(plan, backend or self.backend, self._finish, self.guards)
        self.shadows.astart(plan, backend or self.backend)
        return RoutedResponse(done.response, done.decision)

    def complete(
        self,
        request: RequestLike,
        *,
        route: str | None = None,
        backend: Backend | None = None,
        observers: Sequence[object] = (),
    ) -> RoutedResponse:
        """Sync twin of `acomplete`."""
        plan = self._plan(request, route, stream=False, observers=observers)
        done = run_sync(plan, backend or self.backend, self._finish, self.guards)
        self.shadows.start(plan, backend or self.backend)
        return RoutedResponse(done.response, done.decision)

    def astream(
        self,
        request: RequestLike,
        *,
        route: str | None = None,
        backend: Backend | None = None,
        observers: Sequence[object] = (),
    ) -> RoutedAsyncStream:
        """Stream the answer. Falls back only before the first visible chunk; a later
        failure raises `StreamInterrupted`, or, on a route with `resume_streams`, continues
        the answer on the next model. `decision` is set when the stream ends."""
        plan = self._plan(request, route, stream=True, observers=observers)
        holder: list[Decision] = []
        finish = self._finisher(holder)
        chunks = run_astream(plan, backend or self.backend, finish, self.guards)
        _record_if_dropped(chunks, plan, finish)
        return RoutedAsyncStream(chunks, holder)

    def stream(
        self,
        request: RequestLike,
        *,
        route: str | None = None,
        backend: Backend | None = None,
        observers: Sequence[object] = (),
    ) -> RoutedStream:
        """Sync twin of `astream`."""
        plan = self._plan(request, route, stream=True, observers=observers)
        holder: list[Decision] = []
        finish = self._finisher(holder)
        chunks = run_stream(plan, backend or self.backend, finish, self.guards)
        _record_if_dropped(chunks, plan, finish)
        return RoutedStream(chunks, holder)

    def drain_shadows(self, timeout_s: float | None = None) -> bool:
        """Wait for the shadow copies `complete()` scheduled (see `modelroute.shadow`);
        False when `timeout_s` seconds passed first. Interpreter exit waits for them only
        `self.shadows.exit_wait_s` seconds (default 1), then drops them unrecorded."""
        return self.shadows.drain(timeout_s)

    async def adrain_shadows(self) -> None:
        """Wait for the shadow copies `acomplete()` scheduled on the running event loop;
        call it before the loop closes, or the copies still running are cancelled."""
        await self.shadows.adrain()

    # -- internals --------------------------------------------------------------

    def resolve_route(self, request: Request, route: str | None) -> Route:
        """The route to use: the named one, else the first matching rule, else the
        request's task if it names a route, else the default. Raises
        `UnknownRouteError` for an unknown name."""
        name = route or (self._matching_rule(request) if self.rules else None)
        name = name or (request.task if request.task in self.routes else None)
        name = name or self.default_route
        if name not in self.routes:
            raise UnknownRouteError(name, tuple(self.routes))
        return self.routes[name]

    def _matching_rule(self, request: Request) -> str | None:
        tokens = -1
        for rule in self.rules:
            if rule.needs_tokens and tokens < 0:
                tokens = self.catalog.token_counter("", request)
            if rule.matches(request, tokens):
                return rule.route
        return None

    def _fit_input(self, request: Request, route: Route) -> tuple[Route, str | None]:
        """Move a request that is too long for `route` to its overflow route."""
        if route.max_input_tokens is None:  # the common case: nothing to count
            return route, None
        seen = {route.name}
        origin = None
        while route.max_input_tokens is not None:
            tokens = self.catalog.input_tokens_over(
                route.models[0], request, route.max_input_tokens
            )  # counted only when a cheap bound does not fit
            if tokens is None:
                break
            if route.overflow_route is None or route.overflow_route in seen:
                raise InputTooLong(route.name, tokens, route.max_input_tokens)
            origin = origin or route.name
            route = self.routes[route.overflow_route]
            seen.add(route.name)
        return route, origin

    def _plan(
        self,
        request: RequestLike,
        route: str | None,
        *,
        stream: bool,
        observers: Sequence[object] = (),
    ) -> Plan:
        req = request if isinstance(request, Request) else Request.of(request)
        check_request(req)
        chosen, routed_from = self._fit_input(req, self.resolve_route(req, route))
        if stream and chosen.verifier is not None:
            raise ConfigError(
                f"routes.{chosen.name}.verifier",
                "a verified route cannot stream (the answer must be judged before you see it); "
                "use complete()/acomplete()",
            )
        return Plan(
            request_id=os.urandom(8).hex(),
            route=chosen,
            request=req,
            catalog=self.catalog,
            breakers=self.breakers,
            clock=self.clock,
            validators=validators_for_request(req) + chosen.validators,
            baseline=self.baseline,
            stream=stream,
            rng=self._rng,
            observers=self.observers.with_extra(observers),
            routed_from=routed_from,
            redact_user=self.redact_users,
        )

    def _finish(self, decision: Decision) -> None:
        if self.sinks:
            emit_all(self.sinks, decision)

    def _finisher(self, holder: list[Decision]) -> Any:
        def finish(decision: Decision) -> None:
            holder.append(decision)
            self._finish(decision)

        return finish

    def _on_transition(self, transition: BreakerTransition) -> None:
        emit_transition_all(self.sinks, transition)


def _record_if_dropped(chunks: object, plan: Plan, finish: Callable[[Decision], None]) -> None:
    """A stream dropped before it was ever read never runs its body, so nothing else would
    record it: when `chunks` is collected unread, record the request as cancelled."""

    def dropped() -> None:
        decision = plan.on_dropped()
        if decision is not None:
            finish(decision)

    weakref.finalize(chunks, dropped).atexit = False
