"""The up-front check of a request: what no model could accept is refused before any call.

`Request.of` and `Message` already refuse fields of the wrong type. Two problems need a look
at the values, and would otherwise cost one failed (or paid and rejected) attempt per model:

- text that cannot be encoded as UTF-8 (a lone surrogate such as `"\\ud800"`, e.g. from a
  badly decoded file): the HTTP client fails before sending a byte, on every model alike;
- a `json_schema` that is not a valid JSON Schema: every answer would be paid for and then
  rejected as `invalid_output:json_schema`.

`check_request` raises `InvalidRequest` naming the field; the router calls it once per
request, before it plans any attempt. `jsonschema` is imported only for a request that
carries a schema; the verdict on each distinct schema is remembered (256 of them).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from typing import Any

from modelroute.errors import InvalidRequest
from modelroute.types import Message, Request

__all__ = ["check_request", "schema_problem", "unencodable_text"]


def check_request(request: Request) -> None:
    """Refuse `request` when no model could take it. Raises `InvalidRequest` naming the field:
    `messages[<i>].<field>` (or `tools`, `json_schema`, `params` and the path inside) for text
    with a lone surrogate, `json_schema...` for a schema that is not a valid JSON Schema.
    Returns None when the request may be sent."""
    # the common case is all ASCII: look for the field only when something is not
    if not _request_ascii(request):
        sent: list[tuple[str, Any]] = [
            (f"messages[{i}]", message.to_dict()) for i, message in enumerate(request.messages)
        ]
        sent += [("tools", request.tools), ("json_schema", request.json_schema)]
        sent += [("params", request.params)]
        for field, value in sent:
            found = unencodable_text(value)
            if found is not None:
                where, problem = found
                raise InvalidRequest(field + where, problem)
    if request.json_schema is not None:
        found = schema_problem(request.json_schema)
        if found is not None:
            where, problem = found
            raise InvalidRequest("json_schema" + where, problem)


def _request_ascii(request: Request) -> bool:
    """True when every string of `request` that is sent is ASCII."""
    plain = request.tools is None and request.json_schema is None and not request.params
    if not (plain or _all_ascii((request.tools, request.json_schema, request.params))):
        return False
    return all(_message_ascii(m) for m in request.messages)


def _message_ascii(m: Message) -> bool:
    """True when every string of message `m` is ASCII."""
    content = m.content
    # fast path: the common message has string content and no name nor tool fields
    plain = m.name is None and m.tool_calls is None and m.tool_call_id is None
    if plain and type(content) is str:
        return content.isascii() and m.role.isascii()
    return _all_ascii((m.role, content, m.name, m.tool_calls, m.tool_call_id))


def _all_ascii(value: Any) -> bool:
    """True when every string (and dict key) inside `value` is ASCII: a fast pre-check that
    builds no paths (ASCII text can always be encoded)."""
    stack: list[Any] = [value]
    while stack:
        node = stack.pop()
        if node is None:
            continue
        if isinstance(node, str):
            if not node.isascii():
                return False
        elif isinstance(node, list | tuple):
            stack.extend(node)
        elif isinstance(node, dict | Mapping):
            for key, child in node.items():
                if isinstance(key, str) and not key.isascii():
                    return False
                stack.append(child)
    return True


def _strings(value: Any) -> Iterator[tuple[str, str, bool]]:
    """(path suffix, string, is a key) of every string in nested dicts, lists and tuples, in
    order (`.content[0].text`); a dict's keys come before its values, so a path is built only
    from keys already seen. Iterative, so a deeply nested value cannot overflow the stack."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            yield path, node, False
        elif isinstance(node, Mapping):
            children = []
            for key, child in node.items():
                if isinstance(key, str):
                    yield path, key, True
                children.append((f"{path}.{key}", child))
            stack.extend(reversed(children))
        elif isinstance(node, list | tuple):
            stack.extend(reversed([(f"{path}[{i}]", child) for i, child in enumerate(node)]))


def unencodable_text(value: Any) -> tuple[str, str] | None:
    """(path suffix, problem) of the first string inside `value` that cannot be encoded as
    UTF-8, e.g. `(".content", "text cannot be encoded as UTF-8: lone surrogate U+D800 at
    character 15 ...")`; None when every string can be sent. The problem never quotes the
    text itself (it could not be logged either)."""
    for path, text, is_key in _strings(value):
        if text.isascii():
            continue
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            char = f"U+{ord(text[exc.start]):04X}"
            what = "a key" if is_key else "text"
            problem = (
                f"{what} cannot be encoded as UTF-8: lone surrogate {char} at character "
                f"{exc.start} (not valid Unicode text; no model can be sent it)"
            )
            return path, problem
    return None


def schema_problem(schema: Any) -> tuple[str, str] | None:
    """(path suffix inside the schema, problem) when `schema` is not a valid JSON Schema
    (checked against its `$schema` draft's meta-schema, by default the latest), else None.
    A pydantic model class is left to the `JsonSchema` validator."""
    if isinstance(schema, type):
        return None
    if not isinstance(schema, Mapping):
        return "", f"expected a JSON Schema dict, got {type(schema).__name__}"
    if "$schema" in schema and not isinstance(schema["$schema"], str):
        return ".$schema", f"expected str, got {type(schema['$schema']).__name__}"
    try:
        text = json.dumps(schema, sort_keys=True)
    except (TypeError, ValueError):  # not JSON data (the provider could not be sent it either)
        return _meta_schema_problem(dict(schema))
    return _known_schema_problem(text)


@functools.lru_cache(maxsize=256)
def _known_schema_problem(text: str) -> tuple[str, str] | None:
    """`_meta_schema_problem` of a schema as JSON text, remembered: checking a schema against
    its meta-schema takes milliseconds, and an application sends the same few schemas."""
    return _meta_schema_problem(json.loads(text))


def _meta_schema_problem(schema: dict[str, Any]) -> tuple[str, str] | None:
    import jsonschema

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in exc.absolute_path)
        return where, f"not a valid JSON Schema: {exc.message}"
    return None
