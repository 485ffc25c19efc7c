"""modelroute's LiteLLM adapter: a `Backend` for every provider LiteLLM supports, and
modelroute inside LiteLLM.

>>> from modelroute import Catalog
>>> from modelroute_litellm import LiteLLMBackend, litellm_token_counter
>>> backend = LiteLLMBackend(api_base="http://127.0.0.1:8000/v1", api_key="sk-local")
>>> catalog = Catalog(token_counter=litellm_token_counter)

Inside LiteLLM (docs/litellm.md): `ModelrouteStrategy` picks deployments for a
`litellm.Router`, `ModelrouteCallback` records every LiteLLM call as modelroute records,
`install(router)` sets up both, `RoutedLiteLLM` answers `acompletion` with modelroute routes.

Importing this package does not import LiteLLM (about 3-7 s); the first call does, and so
does the first access to `ModelrouteStrategy`, `ModelrouteCallback` or `install`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from modelroute_litellm.backend import LiteLLMBackend
from modelroute_litellm.convert import completion_kwargs, json_schema_format, to_response
from modelroute_litellm.errors import map_exception, parse_retry_after, scrub
from modelroute_litellm.tokens import (
    clear_token_count_cache,
    count_text_tokens,
    ensure_tiktoken_cache,
    litellm_token_counter,
)

_LAZY: dict[str, str] = {
    "ModelrouteStrategy": "modelroute_litellm.strategy",
    "install_strategy": "modelroute_litellm.strategy",
    "ModelrouteCallback": "modelroute_litellm.callback",
    "install": "modelroute_litellm.install",
    "Installed": "modelroute_litellm.install",
    "RoutedLiteLLM": "modelroute_litellm.routes",
    "PickJournal": "modelroute_litellm.journal",
    "Pick": "modelroute_litellm.journal",
    "TraceRecorder": "modelroute_litellm.recorder",
}

__all__ = [
    "Installed",
    "LiteLLMBackend",
    "ModelrouteCallback",
    "ModelrouteStrategy",
    "Pick",
    "PickJournal",
    "RoutedLiteLLM",
    "TraceRecorder",
    "clear_token_count_cache",
    "completion_kwargs",
    "count_text_tokens",
    "ensure_tiktoken_cache",
    "install",
    "install_strategy",
    "json_schema_format",
    "litellm_token_counter",
    "map_exception",
    "parse_retry_after",
    "scrub",
    "to_response",
]

if TYPE_CHECKING:
    from modelroute_litellm.callback import ModelrouteCallback
    from modelroute_litellm.install import Installed, install
    from modelroute_litellm.journal import Pick, PickJournal
    from modelroute_litellm.recorder import TraceRecorder
    from modelroute_litellm.routes import RoutedLiteLLM
    from modelroute_litellm.strategy import ModelrouteStrategy, install_strategy


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelroute_litellm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
