"""What a LangChain candidate can do, as the catalog entries the engine's capability check
reads: tools when its chat model implements `bind_tools`, structured output when it
implements `with_structured_output` or `bind_tools`, images unless its profile says no.
A chain (any other runnable) can do neither tools nor structured output.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableBinding

from modelroute.catalog import Catalog, ModelInfo, litellm_model_map
from modelroute.config import ModelConfig, RouterConfig, Supports

__all__ = ["catalog_for", "chat_model_of", "complete_config", "model_info_for"]


def chat_model_of(runnable: Runnable[Any, Any]) -> BaseChatModel | None:
    """The chat model `runnable` is, or wraps in bindings (`bind`, `bind_tools`,
    `with_config`); None for a chain or any other runnable."""
    current: Any = runnable
    while isinstance(current, RunnableBinding):
        current = current.bound
    return current if isinstance(current, BaseChatModel) else None


def can_bind_tools(chat: BaseChatModel) -> bool:
    """The chat model's class implements `bind_tools` (the base class only raises)."""
    return type(chat).bind_tools is not BaseChatModel.bind_tools


def can_structure(chat: BaseChatModel) -> bool:
    """The chat model can do `with_structured_output` (its own, or the base one over tools)."""
    own = type(chat).with_structured_output is not BaseChatModel.with_structured_output
    return own or can_bind_tools(chat)


def _supports(runnable: Runnable[Any, Any]) -> Supports:
    chat = chat_model_of(runnable)
    if chat is None:
        return Supports(tools=False, json_schema=False, vision=True, streaming=True)
    profile: Mapping[str, Any] = chat.profile or {}
    return Supports(
        tools=bool(profile.get("tool_calling", can_bind_tools(chat))),
        json_schema=can_structure(chat),
        vision=bool(profile.get("image_inputs", True)),
        streaming=True,
    )


def model_info_for(name: str, runnable: Runnable[Any, Any]) -> ModelInfo:
    """A catalog entry for `runnable` (no prices: its calls cost $0 in records)."""
    supports = _supports(runnable)
    chat = chat_model_of(runnable)
    profile: Mapping[str, Any] = (chat.profile if chat is not None else None) or {}
    return ModelInfo(
        name=name,
        provider=getattr(chat, "_llm_type", None) if chat is not None else "langchain",
        max_input_tokens=profile.get("max_input_tokens"),
        max_output_tokens=profile.get("max_output_tokens"),
        supports_tools=bool(supports.tools),
        supports_vision=bool(supports.vision),
        supports_json_schema=bool(supports.json_schema),
    )


def catalog_for(models: Mapping[str, Runnable[Any, Any]], base: Catalog | None = None) -> Catalog:
    """`base` (or a new catalog) with an entry for every model it lacks."""
    catalog = base if base is not None else Catalog()
    for name, runnable in models.items():
        if name not in catalog:
            catalog.add(model_info_for(name, runnable))
    return catalog


def complete_config(cfg: RouterConfig, models: Mapping[str, Runnable[Any, Any]]) -> RouterConfig:
    """`cfg` with a `models` entry (capabilities detected, no prices) for every model its
    routes name that it neither declares nor finds in LiteLLM's model map, but `models` has."""
    known = litellm_model_map()
    extra: dict[str, ModelConfig] = {}
    for route_name, route in cfg.routes.items():
        for _, name in route.model_paths(route_name):
            if name in cfg.models or name in known or name not in models:
                continue
            extra[name] = ModelConfig(supports=_supports(models[name]))
    if not extra:
        return cfg
    return cfg.model_copy(update={"models": {**cfg.models, **extra}})
