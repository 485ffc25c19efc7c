"""`LiteLLMBackend`: modelroute's `Backend` protocol on top of `litellm.(a)completion`.

One attempt is one HTTP request: retries are off at every layer (`num_retries=0` for
LiteLLM, `max_retries=0` for the openai client); modelroute's engine owns retries and
fallbacks. Every failure is raised as a `modelroute.errors.ProviderError` subclass (see
`modelroute_litellm.errors`), raised outside the `except` block so the original exception
(which may echo credentials) is not chained. LiteLLM is imported when a backend is built
(not when this module is imported), so the first call's attempt timeout never pays for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator, Mapping
from types import ModuleType
from typing import Any

from modelroute.catalog import ModelInfo
from modelroute.errors import ProviderConnectionError, ProviderError, ProviderTimeout, StreamBroken
from modelroute.privacy import url_without_password
from modelroute.types import Request, Response, StreamChunk, Usage
from modelroute_litellm.convert import StreamState, completion_kwargs, to_response
from modelroute_litellm.credentials import move_url_credentials, secret_values
from modelroute_litellm.errors import map_exception
from modelroute_litellm.tokens import count_text_tokens, litellm_token_counter, load_litellm


class LiteLLMBackend:
    """Calls any LiteLLM-supported provider; implements `modelroute.backend.Backend`.

    - `api_base`: default base URL, used when `ModelInfo.api_base` is None (None lets
      LiteLLM pick the provider's default).
    - `api_key`: default key, used when `ModelInfo.api_key_env` is None or names an unset
      variable (None lets LiteLLM read the provider's usual env var). Never logged, never
      put in errors or records.
    - `extra_kwargs`: more kwargs for every `litellm.(a)completion` call (e.g.
      `extra_headers`); they cannot turn retries back on or change the stream settings.
    - `quiet`: set `litellm.suppress_debug_info` on first use (LiteLLM otherwise prints a
      "Give Feedback / Get Help" banner on every failed call).
    - `preload`: import LiteLLM now (6-14 s once per process on these machines) rather than
      inside the first call, where the import would count against that attempt's timeout
      (an async attempt with a limit under ~15 s would time out and fall back for nothing).
      `False` defers it to the first call. Raises ImportError when LiteLLM is missing.

    `timeout_s` (seconds, None = LiteLLM's default) is passed to LiteLLM, which gives it to
    the HTTP client (connect and each read). `acall` also caps the whole call at `timeout_s`.
    Streams end with one chunk carrying `finish_reason`, `usage` and the reported `model`;
    a stream without a finish_reason raises `StreamBroken`.
    """

    def __init__(
        self,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        extra_kwargs: Mapping[str, Any] | None = None,
        quiet: bool = True,
        preload: bool = True,
    ) -> None:
        self.api_base = api_base
        self._api_key = api_key
        self.extra_kwargs: dict[str, Any] = dict(extra_kwargs or {})
        self.quiet = quiet
        if preload:
            self._litellm()

    def __repr__(self) -> str:
        key = "set" if self._api_key else "unset"
        base = url_without_password(self.api_base) if self.api_base else None
        return f"LiteLLMBackend(api_base={base!r}, api_key={key})"

    # -- helpers ---------------------------------------------------------------------------

    def _litellm(self) -> ModuleType:
        litellm = load_litellm()
        if self.quiet:
            litellm.suppress_debug_info = True  # type: ignore[attr-defined]
        return litellm

    def _api_key_for(self, model: ModelInfo) -> str | None:
        if model.api_key_env:
            from_env = os.environ.get(model.api_key_env)
            if from_env:
                return from_env
        return self._api_key

    def _kwargs(
        self, model: ModelInfo, request: Request, timeout_s: float | None, *, stream: bool
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        key = self._api_key_for(model)
        kwargs = completion_kwargs(
            model,
            request,
            timeout_s=timeout_s,
            api_base=model.api_base or self.api_base,
            api_key=key,
            stream=stream,
            extra=self.extra_kwargs,
        )
        keys = tuple(s for s in (key, self._api_key) if s)
        secrets = keys + tuple(s for s in secret_values(kwargs) if s not in keys)
        move_url_credentials(kwargs)
        return kwargs, secrets

    def _estimate(self, model: ModelInfo, request: Request, output_text: str) -> Usage:
        return Usage(
            input_tokens=litellm_token_counter(model.call_name, request),
            output_tokens=count_text_tokens(model.call_name, output_text),
            estimated=True,
        )

    def _response(self, model: ModelInfo, request: Request, raw: Any) -> Response:
        return to_response(raw, estimate_usage=lambda text: self._estimate(model, request, text))

    def _final_chunk(
        self, model: ModelInfo, request: Request, state: StreamState, stream: Any
    ) -> StreamChunk:
        if state.finish_reason is None:
            raise StreamBroken(
                f"stream ended without a finish_reason after {state.chunks_seen} chunks",
                model=model.name,
            )
        reported = state.usage is not None and _provider_reported_usage(stream)
        final = state.final(usage_reported=reported)
        if final.usage is None:
            final = StreamChunk(
                finish_reason=final.finish_reason,
                usage=self._estimate(model, request, state.output_text),
                model=final.model,
            )
        return final

    # -- Backend protocol ------------------------------------------------------------------

    async def acall(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> Response:
        """One non-streaming call of `model` (LiteLLM name `model.call_name`).

        Returns the provider's answer (usage estimated with `estimated=True` when the provider
        reported none). Raises a `ProviderError` subclass on any failure, `ProviderTimeout`
        when the whole call takes longer than `timeout_s` seconds.
        """
        litellm = self._litellm()
        kwargs, secrets = self._kwargs(model, request, timeout_s, stream=False)
        error: ProviderError | None = None
        raw: Any = None
        try:
            async with asyncio.timeout(timeout_s):
                raw = await litellm.acompletion(**kwargs)
        except TimeoutError:
            error = ProviderTimeout(f"no answer within {timeout_s} s", model=model.name)
        except Exception as exc:
            error = map_exception(exc, model=model.name, secrets=secrets)
        if error is not None:
            raise error
        return self._response(model, request, raw)

    def call(self, model: ModelInfo, request: Request, *, timeout_s: float | None) -> Response:
        """Sync twin of `acall` (`timeout_s` bounds connect and each read, not the total)."""
        litellm = self._litellm()
        kwargs, secrets = self._kwargs(model, request, timeout_s, stream=False)
        error: ProviderError | None = None
        raw: Any = None
        try:
            raw = litellm.completion(**kwargs)
        except Exception as exc:
            error = map_exception(exc, model=model.name, secrets=secrets)
        if error is not None:
            raise error
        return self._response(model, request, raw)

    async def astream(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> AsyncIterator[StreamChunk]:
        """One streaming call: a `StreamChunk` per text or tool-call delta, then a final chunk
        with `finish_reason`, `usage` and `model`.

        Raises a `ProviderError` subclass before or during the stream; `StreamBroken` when the
        stream is cut or ends without a finish_reason. Stopping early closes the connection.
        """
        litellm = self._litellm()
        kwargs, secrets = self._kwargs(model, request, timeout_s, stream=True)
        error: ProviderError | None = None
        stream: Any = None
        try:
            stream = await litellm.acompletion(**kwargs)
        except Exception as exc:
            error = map_exception(exc, model=model.name, secrets=secrets)
        if error is not None:
            raise error
        state = StreamState()
        final: StreamChunk | None = None
        try:
            iterator = stream.__aiter__()
            while True:
                try:
                    raw = await iterator.__anext__()
                except StopAsyncIteration:
                    break
                except Exception as exc:
                    error = _stream_error(exc, model=model.name, secrets=secrets)
                    break
                piece = state.feed(raw)
                if piece is not None:
                    yield piece
            if error is None:
                final = self._final_chunk(model, request, state, stream)
        finally:
            await _aclose(stream)
        if error is not None:
            raise error
        if final is not None:
            yield final

    def stream(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> Iterator[StreamChunk]:
        """Sync twin of `astream`."""
        litellm = self._litellm()
        kwargs, secrets = self._kwargs(model, request, timeout_s, stream=True)
        error: ProviderError | None = None
        stream: Any = None
        try:
            stream = litellm.completion(**kwargs)
        except Exception as exc:
            error = map_exception(exc, model=model.name, secrets=secrets)
        if error is not None:
            raise error
        state = StreamState()
        final: StreamChunk | None = None
        try:
            iterator = iter(stream)
            while True:
                try:
                    raw = next(iterator)
                except StopIteration:
                    break
                except Exception as exc:
                    error = _stream_error(exc, model=model.name, secrets=secrets)
                    break
                piece = state.feed(raw)
                if piece is not None:
                    yield piece
            if error is None:
                final = self._final_chunk(model, request, state, stream)
        finally:
            _close(stream)
        if error is not None:
            raise error
        if final is not None:
            yield final


def _stream_error(exc: BaseException, *, model: str, secrets: tuple[str, ...]) -> ProviderError:
    """An error while iterating a stream: a dropped connection or an unclassified failure
    after the stream started is `StreamBroken`; specific errors keep their class."""
    mapped = map_exception(exc, model=model, secrets=secrets)
    if type(mapped) is ProviderError or isinstance(mapped, ProviderConnectionError):
        return StreamBroken(mapped.message, model=model, status_code=mapped.status_code)
    return mapped


def _provider_reported_usage(stream: Any) -> bool:
    """Whether the provider itself sent usage in this stream.

    With `include_usage`, LiteLLM synthesizes a usage chunk from its own token count when the
    provider sent none; its `CustomStreamWrapper.chunks` keeps only what the provider sent.
    Without that attribute (other LiteLLM versions), the usage is taken as reported.
    """
    chunks = getattr(stream, "chunks", None)
    if not isinstance(chunks, list):
        return True
    for chunk in chunks:
        try:
            if chunk["usage"] is not None:
                return True
        except (KeyError, TypeError, AttributeError):
            if getattr(chunk, "usage", None) is not None:
                return True
    return False


async def _aclose(stream: Any) -> None:
    close = getattr(stream, "aclose", None)
    if close is None:
        _close(stream)
        return
    with contextlib.suppress(Exception):
        await close()


def _close(stream: Any) -> None:
    close = getattr(stream, "close", None)
    if close is None:
        return
    with contextlib.suppress(Exception):
        close()
