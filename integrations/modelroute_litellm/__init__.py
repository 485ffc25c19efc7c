"""modelroute's LiteLLM adapter: a `Backend` for every provider LiteLLM supports.

>>> from modelroute import Catalog
>>> from modelroute_litellm import LiteLLMBackend, litellm_token_counter
>>> backend = LiteLLMBackend(api_base="http://127.0.0.1:8000/v1", api_key="sk-local")
>>> catalog = Catalog(token_counter=litellm_token_counter)

Importing this package does not import LiteLLM (about 3-7 s); the first call does.
"""

from __future__ import annotations

from modelroute_litellm.backend import LiteLLMBackend
from modelroute_litellm.convert import completion_kwargs, json_schema_format, to_response
from modelroute_litellm.errors import map_exception, parse_retry_after, scrub
from modelroute_litellm.tokens import (
    count_text_tokens,
    ensure_tiktoken_cache,
    litellm_token_counter,
)

__all__ = [
    "LiteLLMBackend",
    "completion_kwargs",
    "count_text_tokens",
    "ensure_tiktoken_cache",
    "json_schema_format",
    "litellm_token_counter",
    "map_exception",
    "parse_retry_after",
    "scrub",
    "to_response",
]
