"""Running the provider server: on the caller's event loop, or on its own loop in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import TracebackType

from aiohttp import web

from modelroute.provider_server.app import ServerState, build_app
from modelroute.provider_server.fault_board import FaultBoard
from modelroute.provider_server.fault_specs import FaultSpec
from modelroute.provider_server.faults import Fault
from modelroute.provider_server.request_log import RequestLog, RequestRecord
from modelroute.provider_server.scripts import ModelScript

_THREAD_TIMEOUT = 10.0  # seconds to wait for the server thread to start or stop


class ProviderServer:
    """A local OpenAI-compatible server whose models answer from scripts and fail on demand.

    scripts: model name -> its script (see `scripts.ModelScript`).
    host: the address to bind; keep it a loopback address.
    port: the TCP port; 0 picks a free one (read the real one from `port` once started).

    Start it with `await start()` / `await stop()` (or `async with`) on your event loop, or
    `with server.running():` on its own loop in a daemon thread. Fault and log methods may be
    called from any thread.
    """

    def __init__(
        self, scripts: Mapping[str, ModelScript], host: str = "127.0.0.1", port: int = 0
    ) -> None:
        if not scripts:
            raise ValueError("a provider server needs at least one model script")
        self.host = host
        self._requested_port = port
        self._state = ServerState(
            scripts=dict(scripts), faults=FaultBoard(scripts), log=RequestLog()
        )
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The port the server listens on (raises RuntimeError before it is started)."""
        if self._port is None:
            raise RuntimeError("the provider server is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, e.g. "http://127.0.0.1:PORT/v1"."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def models(self) -> tuple[str, ...]:
        """The scripted model names."""
        return tuple(self._state.scripts)

    async def start(self) -> None:
        """Start listening on the current event loop."""
        if self._runner is not None:
            raise RuntimeError("the provider server is already started")
        self._state.stopping = False
        runner = web.AppRunner(
            build_app(self._state),
            handle_signals=False,
            access_log=None,
            handler_cancellation=True,  # a client's disconnect cancels its handler: logged
            shutdown_timeout=1.0,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._requested_port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop listening and end every request in flight (held or stalled ones too) at once."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._state.stopping = True
        for task in list(self._state.inflight):
            task.cancel()
        await runner.cleanup()
        self._port = None

    async def __aenter__(self) -> ProviderServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @contextlib.contextmanager
    def running(self) -> Iterator[ProviderServer]:
        """Run the server on its own event loop in a daemon thread for the `with` block."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=loop.run_forever, name="modelroute-provider-server", daemon=True
        )
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result(_THREAD_TIMEOUT)
            try:
                yield self
            finally:
                asyncio.run_coroutine_threadsafe(self.stop(), loop).result(_THREAD_TIMEOUT)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(_THREAD_TIMEOUT)
            loop.close()

    # Faults -------------------------------------------------------------------------------

    def set_faults(self, model: str, faults: Iterable[FaultSpec]) -> None:
        """Replace `model`'s fault queue: its next requests get these faults, one each, in order.

        Items are `Fault`s or any `parse_fault` form (e.g. 429, "503", "drop_connection").
        Raises KeyError for a model without a script.
        """
        self._state.faults.set_faults(model, faults)

    def add_faults(self, model: str, faults: Iterable[FaultSpec]) -> None:
        """Append faults to `model`'s queue."""
        self._state.faults.add_faults(model, faults)

    def set_default_fault(self, model: str, fault: FaultSpec | None) -> None:
        """Set `model`'s sticky fault (used whenever its queue is empty); None clears it."""
        self._state.faults.set_default_fault(model, fault)

    def pending_faults(self, model: str) -> tuple[Fault, ...]:
        """`model`'s queued faults, next first."""
        return self._state.faults.pending(model)

    def reset(self) -> None:
        """Back to the scripts' initial faults, and clear the request log."""
        self._state.faults.reset()
        self._state.log.clear()

    # Request log --------------------------------------------------------------------------

    def calls(self, model: str) -> int:
        """How many chat requests for `model` the server received (in flight ones included)."""
        return self._state.log.count(model)

    def requests(self, model: str | None = None) -> list[RequestRecord]:
        """The request records, in arrival order; only `model`'s when given."""
        return self._state.log.records(model)

    def wait_for(
        self, predicate: Callable[[list[RequestRecord]], bool], timeout: float = 5.0
    ) -> bool:
        """Block until `predicate(all records)` holds or `timeout` seconds pass; returns it.

        This blocks the calling thread: inside a coroutine use `wait_for_async`, or the client's
        event loop stops too, and with it the closing of the client's connections.
        """
        return self._state.log.wait_until(predicate, timeout)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until no request is in flight (e.g. a disconnect has been logged); returns
        False if `timeout` seconds pass first. Inside a coroutine use `wait_idle_async`."""
        return self.wait_for(_idle, timeout)

    async def wait_for_async(
        self, predicate: Callable[[list[RequestRecord]], bool], timeout: float = 5.0
    ) -> bool:
        """`wait_for` for coroutines: waits in a worker thread, so the event loop keeps running."""
        return await asyncio.to_thread(self.wait_for, predicate, timeout)

    async def wait_idle_async(self, timeout: float = 5.0) -> bool:
        """`wait_idle` for coroutines: waits in a worker thread, so the event loop keeps running."""
        return await self.wait_for_async(_idle, timeout)


def _idle(records: list[RequestRecord]) -> bool:
    return not any(r.in_flight for r in records)
