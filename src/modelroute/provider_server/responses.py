"""Writing one response to the wire, with the fault's effect on timing, framing and the socket."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from modelroute.provider_server.completions import (
    Reply,
    completion_body,
    new_completion_id,
    stream_chunks,
)
from modelroute.provider_server.fault_helpers import default_error_body
from modelroute.provider_server.faults import (
    Fault,
    HttpError,
    MalformedChunk,
    MalformedJson,
    NoDoneSentinel,
    SlowFirstToken,
    StreamCut,
    StreamStall,
)
from modelroute.provider_server.request_log import RequestLog

DONE_EVENT = b"data: [DONE]\n\n"
MALFORMED_EVENT = b'data: {"id": "chatcmpl-malformed", "choices": [{"delta": {"content": "\n\n'


class Exchange:
    """One request being answered: sends the response and notes its status in the request log."""

    def __init__(self, request: web.Request, log: RequestLog, record: int) -> None:
        self.request = request
        self.response: web.StreamResponse | None = None
        self._log = log
        self._record = record

    async def start(self, response: web.StreamResponse) -> web.StreamResponse:
        """Send `response`'s status line and headers."""
        await response.prepare(self.request)
        self.response = response
        self._log.set_status(self._record, response.status)
        return response

    async def send(
        self,
        status: int,
        data: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Send a whole response."""
        response = web.StreamResponse(status=status, headers=headers)
        response.content_type = content_type
        response.content_length = len(data)
        await self.start(response)
        await response.write(data)
        await response.write_eof()

    async def send_json(self, status: int, body: Mapping[str, Any]) -> None:
        """Send a whole JSON response."""
        await self.send(status, json.dumps(body).encode(), "application/json")

    async def send_error(self, fault: HttpError) -> None:
        """Send `fault`'s error response (its body, or the usual body for its status)."""
        body = fault.body if fault.body is not None else default_error_body(fault.status)
        if fault.echo_request_headers:
            body = _with_echoed_headers(body, dict(self.request.headers))
        if isinstance(body, str):
            data, content_type = body.encode(), fault.content_type or "text/plain"
        else:
            data, content_type = json.dumps(body).encode(), fault.content_type or "application/json"
        await self.send(fault.status, data, content_type, fault.headers)

    async def send_completion(self, reply: Reply, fault: Fault | None) -> None:
        """Send a non-streaming answer; the JSON body counts as its one chunk."""
        data = json.dumps(completion_body(reply, new_completion_id(), _now())).encode()
        if isinstance(fault, MalformedJson | MalformedChunk):
            data = data[: len(data) // 2]
        if isinstance(fault, SlowFirstToken):
            await asyncio.sleep(fault.seconds)
        response = web.StreamResponse(status=200)
        response.content_type = "application/json"
        response.content_length = len(data)
        await self.start(response)
        if isinstance(fault, StreamStall):
            await _stall(fault.seconds)
        if isinstance(fault, StreamCut):
            await response.write(data[: len(data) // 2])
            await cut(self.request, reset=fault.reset)
            return
        await response.write(data)
        await response.write_eof()

    async def send_stream(
        self,
        reply: Reply,
        fault: Fault | None,
        *,
        chunks: int | None,
        chunk_delay: float,
        include_usage: bool,
    ) -> None:
        """Send a streamed answer as SSE events, `chunk_delay` seconds apart."""
        chunk_objects = stream_chunks(
            reply, new_completion_id(), _now(), chunks=chunks, include_usage=include_usage
        )
        events = [b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunk_objects]
        if isinstance(fault, MalformedChunk | MalformedJson):
            at = fault.after_chunks if isinstance(fault, MalformedChunk) else 0
            events.insert(min(at, len(events)), MALFORMED_EVENT)
        if not isinstance(fault, NoDoneSentinel):
            events.append(DONE_EVENT)
        response = web.StreamResponse(status=200, headers={"Cache-Control": "no-cache"})
        response.content_type = "text/event-stream"
        await self.start(response)
        if isinstance(fault, SlowFirstToken):
            await asyncio.sleep(fault.seconds)
        cut_at = min(fault.after_chunks, len(events)) if isinstance(fault, StreamCut) else None
        stall_at = min(fault.after_chunks, len(events)) if isinstance(fault, StreamStall) else None
        for i in range(len(events) + 1):  # the last step only ends the body
            if i == stall_at and isinstance(fault, StreamStall):
                await _stall(fault.seconds)
            if i == cut_at and isinstance(fault, StreamCut):
                await cut(self.request, reset=fault.reset)
                return
            if i == len(events):
                break
            if i > 0 and chunk_delay:
                await asyncio.sleep(chunk_delay)
            await response.write(events[i])
        await response.write_eof()


async def cut(request: web.Request, *, reset: bool) -> None:
    """Close the connection now: a FIN after what was sent, or a TCP RST when `reset`.

    The caller must not await anything afterwards (the closed connection cancels the handler).
    """
    transport = request.transport
    if transport is None:
        return
    if not reset:
        transport.close()
        return
    for _ in range(100):  # let what was written reach the socket, or abort() would drop it
        if transport.get_write_buffer_size() == 0:
            break
        await asyncio.sleep(0.005)
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def hold() -> None:
    """Wait until cancelled: the client disconnects (the server cancels the handler) or stop()."""
    await asyncio.get_running_loop().create_future()


async def _stall(seconds: float | None) -> None:
    if seconds is None:
        await hold()
    else:
        await asyncio.sleep(seconds)


def _with_echoed_headers(
    body: Mapping[str, Any] | str, headers: dict[str, str]
) -> Mapping[str, Any] | str:
    echo = f" Request headers: {json.dumps(headers)}"
    if isinstance(body, str):
        return body + echo
    error = body.get("error")
    if isinstance(error, Mapping):
        message = str(error.get("message", ""))
        return {**body, "error": {**error, "message": message + echo}}
    return {**body, "request_headers": headers}


def _now() -> int:
    return int(time.time())
