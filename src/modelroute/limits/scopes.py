"""Whose limit a call counts against: the scope of a limit and the key it gives a call."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from modelroute.catalog import ModelInfo
    from modelroute.types import Request

Scope = Literal["user", "team", "task", "model", "global"]
"""`user`/`team`/`task` come from the request, `model` is the called model, `global`
is one shared key for all traffic."""

SCOPES: tuple[Scope, ...] = ("user", "team", "task", "model", "global")

ANONYMOUS = "_anonymous"
"""The key of requests that carry no user/team/task: they share one limit, so leaving
the field unset never bypasses it."""


def scope_key(per: Scope, request: Request, model: ModelInfo) -> str:
    """The key of `request` on `model` under scope `per`."""
    if per == "model":
        return model.name
    if per == "global":
        return "*"
    value = {"user": request.user, "team": request.team, "task": request.task}[per]
    return value if value else ANONYMOUS
