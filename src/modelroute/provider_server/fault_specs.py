"""Faults written as text or plain data: script files and the `X-Fault` request header.

Accepted forms (`parse_fault`):
- an HTTP status: `503`, `"503"`, or with extra headers `"429 {Retry-After: 45}"` (the usual body
  for that status, see `status_fault`);
- a fault name, optionally with parameters as a YAML/JSON flow mapping:
  `"drop_connection"`, `"stream_cut {after_chunks: 2}"`, `"rate_limited {retry_after: 45}"`;
- a mapping with `kind` (a fault name) and its parameters: `{kind: stream_stall, after_chunks: 1}`;
- a mapping without `kind` is an `HttpError`: `{status: 500, body: {...}, headers: {...}}`;
- a `Fault` instance, returned as is.

Names (`FAULT_NAMES`): the fault classes in snake case (`healthy`, `http_error`, `drop_connection`,
`no_response`, `slow_first_token`, `stream_cut`, `stream_stall`, `malformed_chunk`, `no_done`,
`malformed_json`, `content_override`, `omit_usage`, `reject_prefill`) and the helpers
(`rate_limited`, `server_error`, `service_unavailable`, `model_not_found`, `model_deprecated`,
`invalid_param`, `context_length_exceeded`, `content_filter`, `auth_error`, `empty_content`,
`whitespace_content`, `null_content`, `refusal`). Every name takes `delay` (seconds).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from modelroute.provider_server import fault_helpers as helpers
from modelroute.provider_server.faults import (
    ContentOverride,
    DropConnection,
    Fault,
    Healthy,
    HttpError,
    MalformedChunk,
    MalformedJson,
    NoDoneSentinel,
    NoResponse,
    OmitUsage,
    RejectPrefill,
    SlowFirstToken,
    StreamCut,
    StreamStall,
)

FaultSpec = Fault | int | str | Mapping[str, Any]
"""What `parse_fault` accepts."""

_FACTORIES: dict[str, Callable[..., Fault]] = {
    "healthy": Healthy,
    "http_error": HttpError,
    "drop_connection": DropConnection,
    "no_response": NoResponse,
    "slow_first_token": SlowFirstToken,
    "stream_cut": StreamCut,
    "stream_stall": StreamStall,
    "malformed_chunk": MalformedChunk,
    "no_done": NoDoneSentinel,
    "malformed_json": MalformedJson,
    "content_override": ContentOverride,
    "omit_usage": OmitUsage,
    "reject_prefill": RejectPrefill,
    "rate_limited": helpers.rate_limited,
    "server_error": helpers.server_error,
    "service_unavailable": helpers.service_unavailable,
    "model_not_found": helpers.model_not_found,
    "model_deprecated": helpers.model_deprecated,
    "invalid_param": helpers.invalid_param,
    "context_length_exceeded": helpers.context_length_exceeded,
    "content_filter": helpers.content_filter,
    "auth_error": helpers.auth_error,
    "empty_content": helpers.empty_content,
    "whitespace_content": helpers.whitespace_content,
    "null_content": helpers.null_content,
    "refusal": helpers.refusal,
}

FAULT_NAMES: frozenset[str] = frozenset(_FACTORIES)
"""Every fault name `parse_fault` knows."""


class FaultSpecError(ValueError):
    """A fault spec that cannot be parsed; the message says what was wrong."""


def parse_fault(spec: FaultSpec) -> Fault:
    """Turn a fault spec (see the module docstring) into a `Fault`.

    Raises FaultSpecError for an unknown name, unknown parameters or invalid values.
    """
    if isinstance(spec, Fault):
        return spec
    if isinstance(spec, bool):
        raise FaultSpecError(f"not a fault: {spec!r}")
    if isinstance(spec, int):
        return _status(spec, {})
    if isinstance(spec, str):
        return _parse_text(spec)
    if isinstance(spec, Mapping):
        params = dict(spec)
        kind = params.pop("kind", "http_error")
        if not isinstance(kind, str):
            raise FaultSpecError(f"fault kind must be a name, got {kind!r}")
        return _build(kind, params)
    raise FaultSpecError(f"not a fault: {spec!r}")


def _parse_text(text: str) -> Fault:
    head, _, rest = text.strip().partition(" ")
    params = _flow_mapping(rest.strip()) if rest.strip() else {}
    if head.isdigit():
        return _status(int(head), params)
    return _build(head, params)


def _status(status: int, headers: Mapping[str, Any]) -> Fault:
    """The usual fault for `status`, with `headers` added to (or replacing) its own."""
    try:
        fault = helpers.status_fault(status)
    except ValueError as exc:
        raise FaultSpecError(str(exc)) from exc
    if not headers:
        return fault
    merged = {**fault.headers, **{str(k): _header_value(v) for k, v in headers.items()}}
    return dataclasses.replace(fault, headers=merged)


def _build(kind: str, params: Mapping[str, Any]) -> Fault:
    factory = _FACTORIES.get(kind)
    if factory is None:
        known = ", ".join(sorted(_FACTORIES))
        raise FaultSpecError(f"unknown fault {kind!r}; known faults: {known}")
    kwargs = dict(params)
    if isinstance(kwargs.get("headers"), Mapping):
        kwargs["headers"] = {str(k): _header_value(v) for k, v in kwargs["headers"].items()}
    try:
        return factory(**kwargs)
    except (TypeError, ValueError) as exc:
        raise FaultSpecError(f"fault {kind!r}: {exc}") from exc


def _flow_mapping(text: str) -> dict[str, Any]:
    """Parse `{key: value, ...}` as YAML (JSON is accepted too, being YAML)."""
    import yaml  # a core dependency; imported here to keep this module light

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FaultSpecError(f"fault parameters are not a YAML mapping: {text!r}") from exc
    if not isinstance(value, dict):
        raise FaultSpecError(f"fault parameters must be a mapping, got {text!r}")
    return value


def _header_value(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
