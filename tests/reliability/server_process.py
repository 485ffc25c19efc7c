"""The provider server in a child process, driven over a pipe.

In the test's own process the server would share the GIL with a CPU-bound client (LiteLLM
spends milliseconds per call); in a child process it runs on the other core. Only what the
storm needs is exposed: faults in, the request log out.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterable, Mapping
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

from modelroute.provider_server import Fault, ModelScript, ProviderServer

_TIMEOUT_S = 60.0


def _last_text(messages: tuple[Any, ...]) -> str:
    last = messages[-1] if messages else None
    content = last.get("content") if isinstance(last, dict) else None
    return content if isinstance(content, str) else ""


def _serve(scripts: Mapping[str, ModelScript], conn: Connection) -> None:
    with ProviderServer(scripts).running() as server:
        conn.send(server.base_url)
        while True:
            op, args = conn.recv()
            try:
                if op == "stop":
                    conn.send((True, None))
                    return
                if op == "calls":  # (model, last message text, disconnected) per request
                    value: Any = [
                        (r.model, _last_text(r.messages), r.disconnected) for r in server.requests()
                    ]
                else:
                    value = getattr(server, op)(*args)
            except Exception as exc:  # sent back and raised in the test process
                conn.send((False, exc))
            else:
                conn.send((True, value))


class ServerProcess:
    """`with ServerProcess(scripts) as server:` a provider server on 127.0.0.1 in a child
    process; `base_url`, `set_faults`, `reset`, `wait_idle` and `calls` work as on
    `ProviderServer` (`calls()` lists (model, last message text, disconnected) per request)."""

    def __init__(self, scripts: Mapping[str, ModelScript]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve, args=(dict(scripts), child), daemon=True)
        self.base_url = ""

    def __enter__(self) -> ServerProcess:
        self._process.start()
        if not self._conn.poll(_TIMEOUT_S):
            self._process.kill()
            raise RuntimeError("the provider server process did not start")
        self.base_url = self._conn.recv()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._ask("stop")
        finally:
            self._process.join(10)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(5)

    def _ask(self, op: str, *args: Any) -> Any:
        self._conn.send((op, args))
        if not self._conn.poll(_TIMEOUT_S):
            raise TimeoutError(f"the provider server process did not answer {op!r}")
        ok, value = self._conn.recv()
        if not ok:
            raise value
        return value

    def set_faults(self, model: str, faults: Iterable[Fault]) -> None:
        """Replace `model`'s fault queue."""
        self._ask("set_faults", model, list(faults))

    def reset(self) -> None:
        """Back to the scripts' faults; clear the request log."""
        self._ask("reset")

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is in flight (call it from a worker thread in async code)."""
        return bool(self._ask("wait_idle", timeout))

    def calls(self) -> list[tuple[str, str, bool]]:
        """(model, last message text, disconnected) of every request received, in order."""
        calls: list[tuple[str, str, bool]] = self._ask("calls")
        return calls
