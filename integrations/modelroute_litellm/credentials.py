"""Credentials in LiteLLM call kwargs: kept out of what LiteLLM logs, and known for scrubbing.

- `move_url_credentials`: an `api_base` with user info (`http://user:pw@host/v1`) goes to
  LiteLLM without it, and the user info as the `Authorization: Basic` header the HTTP client
  would have sent for it. LiteLLM hands `api_base` to every callback and logging integration
  (its standard logging payload), so the password would otherwise travel with it.
- `secret_values`: every credential value in the kwargs - any kwarg or header whose name marks
  a credential (`api_key`, `aws_secret_access_key`, `x-api-key`, `Authorization`...), and
  URL passwords - which error messages are scrubbed of.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

_MARKERS = ("key", "token", "secret", "password", "passwd", "auth", "cookie", "credential")


def is_secret_name(name: str) -> bool:
    """True when a kwarg or header called `name` holds a credential (judged by its name)."""
    lowered = name.lower()
    return any(marker in lowered for marker in _MARKERS)


def move_url_credentials(kwargs: dict[str, Any]) -> None:
    """Take the user info out of `kwargs["api_base"]` into an `Authorization: Basic` header
    (an `Authorization` header already given wins)."""
    api_base = kwargs.get("api_base")
    if not isinstance(api_base, str) or "@" not in api_base:
        return
    try:
        parts = urlsplit(api_base)
        user, password = parts.username, parts.password
    except ValueError:
        return
    if user is None and password is None:
        return
    hostport = parts.netloc.rpartition("@")[2]
    kwargs["api_base"] = urlunsplit(parts._replace(netloc=hostport))
    pair = f"{unquote(user or '')}:{unquote(password or '')}".encode()
    headers = dict(kwargs.get("extra_headers") or {})
    if not any(str(name).lower() == "authorization" for name in headers):
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    kwargs["extra_headers"] = headers


def secret_values(kwargs: Mapping[str, Any]) -> tuple[str, ...]:
    """Every credential value in LiteLLM call kwargs (see the module docstring)."""
    return tuple(dict.fromkeys(_secrets(kwargs)))


def _secrets(kwargs: Mapping[str, Any]) -> Iterator[str]:
    for name, value in kwargs.items():
        if isinstance(value, str) and is_secret_name(str(name)):
            yield value
    headers = kwargs.get("extra_headers")
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            if isinstance(value, str) and is_secret_name(str(name)):
                yield value
                yield value.split(" ", 1)[-1]  # "Bearer <token>": the token alone too
    api_base = kwargs.get("api_base")
    if isinstance(api_base, str):
        try:
            password = urlsplit(api_base).password
        except ValueError:
            password = None
        if password:
            yield password
            yield unquote(password)
