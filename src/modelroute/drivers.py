"""Small I/O loops around a `Plan`: async, sync, async stream and sync stream.

Every decision lives in the plan; a driver only performs `Call` and `Sleep` actions,
asks the guards (rate limits, budgets) before each call and settles them after, and
reports what happened. Backend exceptions outside the `ProviderError` tree are wrapped
at this seam so that no attempt is lost.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Sequence
from typing import Any, TypeVar

from modelroute.backend import Backend
from modelroute.errors import LimitExceeded, ProviderError, ProviderTimeout
from modelroute.guards import (
    AttemptGuard,
    Tickets,
    aadmit_all,
    admit_all,
    asettle_all,
    settle_all,
)
from modelroute.plan import Action, Call, Done, GiveUp, Plan, Sleep, Verify
from modelroute.records import Decision
from modelroute.stream_attempt import StreamAttempt
from modelroute.types import StreamChunk

OnFinish = Callable[[Decision], None]
Guards = Sequence[AttemptGuard]
T = TypeVar("T")


async def within(awaitable: Awaitable[T], timeout_s: float | None) -> T:
    """Await `awaitable`, allowing it `timeout_s` seconds (None = no limit); raises
    `TimeoutError` past the limit, and whatever `awaitable` raises.

    Same outcome as `async with asyncio.timeout(timeout_s): await awaitable`, but the timer
    is armed only when the awaitable actually suspends: its first step runs at once, and one
    that finishes without suspending (an in-process or cached backend) cannot be interrupted
    by a timer anyway. So no timer handle is made and cancelled per such call (~3 µs, and
    cancelled handles pile up in the loop until it next runs); the deadline still counts
    from the start of the call.
    """
    if timeout_s is None:
        return await awaitable
    deadline = asyncio.get_running_loop().time() + timeout_s
    steps = awaitable.__await__()
    try:
        pending = steps.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    async with asyncio.timeout_at(deadline):
        return await _resumed(steps, pending)


@types.coroutine
def _resumed(steps: Generator[Any, Any, T], pending: Any) -> Generator[Any, Any, T]:
    """Carry on a started awaitable whose last step yielded `pending`: what `yield from`
    does, for an awaitable already past its first step (values sent, exceptions thrown and
    closing are all passed through to it)."""
    while True:
        try:
            sent = yield pending
        except GeneratorExit:
            steps.close()
            raise
        except BaseException as exc:  # a cancellation too: passed on as is
            try:
                pending = steps.throw(exc)
            except StopIteration as done:
                result: T = done.value
                return result
        else:
            try:
                pending = steps.send(sent)
            except StopIteration as done:
                result = done.value
                return result


def as_provider_error(exc: Exception, model: str) -> ProviderError:
    """Wrap an exception a backend failed to map, keeping its type name."""
    if isinstance(exc, ProviderError):
        return exc
    err = ProviderError(f"{type(exc).__name__}: {exc}", model=model)
    err.__cause__ = exc
    return err


def _settle(action: Action, on_finish: OnFinish) -> Done:
    """Finish a terminal action: report its decision, then return or raise."""
    assert isinstance(action, Done | GiveUp)
    on_finish(action.decision)
    if isinstance(action, GiveUp):
        raise action.error
    return action


async def _averify(plan: Plan, backend: Backend, verify: Verify) -> Action:
    """Ask the verifier model; its failure is a verdict too (see `Verifier.fail_open`)."""
    try:
        judge = await within(
            backend.acall(verify.judge, verify.request, timeout_s=verify.timeout_s),
            verify.timeout_s,
        )
    except Exception as exc:  # the backend seam: a failed judge is recorded, not raised
        return plan.on_verdict(verify, None, exc)
    return plan.on_verdict(verify, judge)


def _verify(plan: Plan, backend: Backend, verify: Verify) -> Action:
    """Sync twin of `_averify`."""
    try:
        judge = backend.call(verify.judge, verify.request, timeout_s=verify.timeout_s)
    except Exception as exc:  # the backend seam: a failed judge is recorded, not raised
        return plan.on_verdict(verify, None, exc)
    return plan.on_verdict(verify, judge)


async def run_async(plan: Plan, backend: Backend, on_finish: OnFinish, guards: Guards = ()) -> Done:
    """Drive `plan` with `backend.acall` until it is done; raises its error on give-up."""
    action = plan.start()
    while isinstance(action, Call | Sleep):
        if isinstance(action, Sleep):
            await plan.clock.asleep(action.seconds)
            action = plan.resume()
            continue
        call = action
        try:
            tickets = await aadmit_all(guards, plan.request, call.model) if guards else []
        except LimitExceeded as exc:
            action = plan.on_refused(call, exc)
            continue
        try:
            # `within`, not wait_for: no task per attempt (~40 µs); and no timer at all for a
            # backend that answers without suspending, so none piles up in a loop that does
            # not turn between such calls
            response = await within(
                backend.acall(call.model, plan.request, timeout_s=call.timeout_s),
                call.timeout_s,
            )
        except TimeoutError:
            timeout = ProviderTimeout("attempt timed out", model=call.model.name)
            action = plan.on_error(call, timeout)
        except asyncio.CancelledError:
            await asettle_all(tickets, None)
            on_finish(plan.on_cancel(call))
            raise
        except Exception as exc:  # the backend seam: every failure becomes an attempt
            action = plan.on_error(call, as_provider_error(exc, call.model.name))
        else:
            action = plan.on_response(call, response)
            if isinstance(action, Verify):
                action = await _averify(plan, backend, action)
        if tickets:  # no guards (the common case): nothing to settle
            await asettle_all(tickets, plan.attempts[-1])
    return _settle(action, on_finish)


def run_sync(plan: Plan, backend: Backend, on_finish: OnFinish, guards: Guards = ()) -> Done:
    """Drive `plan` with `backend.call`; the per-attempt timeout is the backend's."""
    action = plan.start()
    while isinstance(action, Call | Sleep):
        if isinstance(action, Sleep):
            plan.clock.sleep(action.seconds)
            action = plan.resume()
            continue
        call = action
        try:
            tickets = admit_all(guards, plan.request, call.model) if guards else []
        except LimitExceeded as exc:
            action = plan.on_refused(call, exc)
            continue
        try:
            response = backend.call(call.model, plan.request, timeout_s=call.timeout_s)
        except Exception as exc:  # the backend seam: every failure becomes an attempt
            action = plan.on_error(call, as_provider_error(exc, call.model.name))
        else:
            action = plan.on_response(call, response)
            if isinstance(action, Verify):
                action = _verify(plan, backend, action)
        if tickets:
            settle_all(tickets, plan.attempts[-1])
    return _settle(action, on_finish)


async def run_astream(
    plan: Plan, backend: Backend, on_finish: OnFinish, guards: Guards = ()
) -> AsyncIterator[StreamChunk]:
    """Stream through `plan`: fall back until the first visible chunk, then commit (or,
    on a route that resumes streams, continue a broken stream on the next model).

    Enforces the route's time-to-first-token and stall limits between chunks.
    """
    action = plan.start()
    while isinstance(action, Call | Sleep):
        if isinstance(action, Sleep):
            await plan.clock.asleep(action.seconds)
            action = plan.resume()
            continue
        try:
            tickets: Tickets = await aadmit_all(guards, action.request, action.model)
        except LimitExceeded as exc:
            action = plan.on_refused(action, exc)
            continue
        attempt = StreamAttempt(plan, action)
        chunks = backend.astream(action.model, action.request, timeout_s=action.timeout_s)
        iterator = chunks.__aiter__()
        try:
            while True:
                limit = attempt.wait_limit_s
                if limit is None:
                    chunk = await anext(iterator)
                else:
                    chunk = await asyncio.wait_for(anext(iterator), limit)
                for out in attempt.feed(chunk):
                    yield out
        except StopAsyncIteration:
            action, rest = attempt.finish()
            for out in rest:
                yield out
        except TimeoutError:
            action = attempt.fail(attempt.timed_out())
        except (asyncio.CancelledError, GeneratorExit):
            decision = plan.on_cancel(attempt.call, attempt.partial(), ttft_s=attempt.ttft_s)
            await asettle_all(tickets, plan.attempts[-1])
            on_finish(decision)
            raise
        except Exception as exc:  # the backend seam
            action = attempt.fail(as_provider_error(exc, attempt.call.model.name))
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()
        await asettle_all(tickets, plan.attempts[-1])
    _settle(action, on_finish)


def run_stream(
    plan: Plan, backend: Backend, on_finish: OnFinish, guards: Guards = ()
) -> Iterator[StreamChunk]:
    """Sync twin of `run_astream`. A blocking iterator cannot be interrupted from this
    thread, so `first_token_s` and `stall_s` are not enforced: each wait is bounded by the
    backend's read timeout (the attempt's `timeout_s`). The request's deadline is checked
    after every chunk: a stream still going past it fails with `ProviderTimeout`."""
    action = plan.start()
    while isinstance(action, Call | Sleep):
        if isinstance(action, Sleep):
            plan.clock.sleep(action.seconds)
            action = plan.resume()
            continue
        try:
            tickets = admit_all(guards, action.request, action.model)
        except LimitExceeded as exc:
            action = plan.on_refused(action, exc)
            continue
        attempt = StreamAttempt(plan, action)
        iterator = iter(backend.stream(action.model, action.request, timeout_s=action.timeout_s))
        try:
            for chunk in iterator:
                yield from attempt.feed(chunk)
                if attempt.wait_limit_s == 0.0:  # the request's deadline has passed
                    raise attempt.timed_out()
        except GeneratorExit:
            decision = plan.on_cancel(attempt.call, attempt.partial(), ttft_s=attempt.ttft_s)
            settle_all(tickets, plan.attempts[-1])
            on_finish(decision)
            raise
        except Exception as exc:  # the backend seam
            action = attempt.fail(as_provider_error(exc, attempt.call.model.name))
        else:
            action, rest = attempt.finish()
            yield from rest
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
        settle_all(tickets, plan.attempts[-1])
    _settle(action, on_finish)
