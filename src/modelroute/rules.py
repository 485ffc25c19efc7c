"""Rule/task routing: pick a route from the request's task, tags, metadata and features."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelroute.types import Request


@dataclass(frozen=True, slots=True)
class RouteRule:
    """Send matching requests to `route`. Every condition set must hold (AND).

    `task`: equals the request's task; `tags_any` / `tags_all`: tag membership;
    `metadata`: each key equals that value; `min_input_tokens` / `max_input_tokens`:
    bounds on the estimated input tokens; `has_tools`, `has_images`, `json_schema`:
    the request's needs (True or False).
    """

    route: str
    task: str | None = None
    tags_any: tuple[str, ...] = ()
    tags_all: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    min_input_tokens: int | None = None
    max_input_tokens: int | None = None
    has_tools: bool | None = None
    has_images: bool | None = None
    json_schema: bool | None = None

    def matches(self, request: Request, input_tokens: int) -> bool:
        """True when every condition holds for `request` (with `input_tokens` estimated)."""
        checks = (
            self.task is None or request.task == self.task,
            not self.tags_any or any(t in request.tags for t in self.tags_any),
            all(t in request.tags for t in self.tags_all),
            all(request.metadata.get(k) == v for k, v in self.metadata.items()),
            self.min_input_tokens is None or input_tokens >= self.min_input_tokens,
            self.max_input_tokens is None or input_tokens <= self.max_input_tokens,
            self.has_tools is None or request.needs_tools == self.has_tools,
            self.has_images is None or request.needs_vision == self.has_images,
            self.json_schema is None or request.needs_json_schema == self.json_schema,
        )
        return all(checks)

    @property
    def needs_tokens(self) -> bool:
        """True when matching needs an input-token estimate."""
        return self.min_input_tokens is not None or self.max_input_tokens is not None
