"""The aiohttp application: OpenAI's `POST /v1/chat/completions` and `GET /v1/models`.

Each chat request is parsed, gets its fault (the `X-Fault` header's, else its model's next one),
is logged, then answered. Any `Authorization` header is accepted and never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from modelroute.provider_server.completions import compose_reply
from modelroute.provider_server.fault_board import FaultBoard
from modelroute.provider_server.fault_helpers import (
    model_not_found,
    openai_error_body,
    prefill_rejected_body,
)
from modelroute.provider_server.fault_specs import FaultSpecError, parse_fault
from modelroute.provider_server.faults import (
    DropConnection,
    Fault,
    HttpError,
    NoResponse,
    RejectPrefill,
)
from modelroute.provider_server.request_log import RequestLog
from modelroute.provider_server.responses import Exchange, cut, hold
from modelroute.provider_server.scripts import ModelScript
from modelroute.provider_server.validation import ends_with_prefill, history_problem

logger = logging.getLogger("modelroute.provider_server")

FAULT_HEADER = "X-Fault"
"""Request header naming a fault for this request only (any `parse_fault` text or JSON form)."""


@dataclass
class ServerState:
    """What the handlers share with the server that runs them.

    inflight: the tasks handling chat requests right now (cancelled by a stop).
    stopping: set when the server stops, so cancelled requests are not logged as disconnects.
    """

    scripts: Mapping[str, ModelScript]
    faults: FaultBoard
    log: RequestLog
    inflight: set[asyncio.Task[Any]] = field(default_factory=set)
    stopping: bool = False


def build_app(state: ServerState) -> web.Application:
    """The application serving `state`'s scripts (routes with and without the `/v1` prefix)."""
    handlers = _Handlers(state)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    for prefix in ("/v1", ""):
        app.router.add_post(f"{prefix}/chat/completions", handlers.chat_completions)
        app.router.add_get(f"{prefix}/models", handlers.models)
    return app


class _Handlers:
    def __init__(self, state: ServerState) -> None:
        self._state = state

    async def models(self, request: web.Request) -> web.Response:
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": "modelroute"}
            for name in self._state.scripts
        ]
        return web.json_response({"object": "list", "data": data})

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        assert task is not None
        self._state.inflight.add(task)
        try:
            return await self._serve(request)
        finally:
            self._state.inflight.discard(task)

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        body, problem = await _read_body(request)
        raw_model = body.get("model")
        model = raw_model if isinstance(raw_model, str) else ""
        stream = body.get("stream") is True
        fault: Fault | None = None
        if problem is None and model in self._state.scripts:
            fault, problem = self._pick_fault(request, model)
        log = self._state.log
        record = log.begin(
            model=model, stream=stream, body=body, headers=request.headers, fault=fault
        )
        exchange = Exchange(request, log, record)
        disconnected = False
        try:
            if problem is not None:
                await exchange.send_json(400, openai_error_body(problem, "invalid_request_error"))
            elif model not in self._state.scripts:
                await exchange.send_error(model_not_found(model))
            else:
                await _answer(exchange, model, self._state.scripts[model], body, fault)
        except asyncio.CancelledError:
            disconnected = not self._state.stopping
            raise
        except ConnectionError:
            disconnected = True
        finally:
            log.finish(record, disconnected=disconnected)
            logger.info(
                "%s model=%s stream=%s fault=%s status=%s disconnected=%s",
                request.path,
                model,
                stream,
                type(fault).__name__ if fault else None,
                exchange.response.status if exchange.response else None,
                disconnected,
            )
        return exchange.response or web.Response(status=499)

    def _pick_fault(self, request: web.Request, model: str) -> tuple[Fault | None, str | None]:
        spec = request.headers.get(FAULT_HEADER)
        if spec is None:
            return self._state.faults.next_fault(model), None
        try:
            text = spec.strip()
            return parse_fault(json.loads(text) if text.startswith("{") else text), None
        except (FaultSpecError, ValueError) as exc:
            return None, f"Invalid {FAULT_HEADER} header: {exc}"


async def _answer(
    exchange: Exchange,
    model: str,
    script: ModelScript,
    body: Mapping[str, Any],
    fault: Fault | None,
) -> None:
    """Answer one request for a known model, as `fault` says."""
    if fault is not None and fault.delay:
        await asyncio.sleep(fault.delay)
    messages = body.get("messages") or []
    if isinstance(fault, HttpError):
        await exchange.send_error(fault)
    elif isinstance(fault, DropConnection):
        await cut(exchange.request, reset=fault.reset)
    elif isinstance(fault, NoResponse):
        await hold()
    elif isinstance(fault, RejectPrefill) and ends_with_prefill(messages):
        await exchange.send_json(400, prefill_rejected_body())
    elif script.strict_history and (problem := history_problem(messages)):
        await exchange.send_json(400, openai_error_body(problem, "invalid_request_error"))
    elif body.get("stream") is True:
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        await exchange.send_stream(
            compose_reply(model, script, body, fault),
            fault,
            chunks=script.chunks,
            chunk_delay=script.chunk_delay,
            include_usage=include_usage,
        )
    else:
        await exchange.send_completion(compose_reply(model, script, body, fault), fault)


async def _read_body(request: web.Request) -> tuple[dict[str, Any], str | None]:
    """The JSON body, and what is wrong with it (None if it is a usable chat request)."""
    try:
        body = json.loads(await request.read())
    except ValueError:
        return {}, "We could not parse the JSON body of your request."
    if not isinstance(body, dict):
        return {}, "The request body must be a JSON object."
    if not isinstance(body.get("model"), str):
        return body, "you must provide a model parameter"
    if not isinstance(body.get("messages"), list):
        return body, "'messages' is a required property and must be an array"
    return body, None
