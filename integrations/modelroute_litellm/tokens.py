"""Token counting with `litellm.token_counter`, to inject into `Catalog(token_counter=...)`.

Plain tiktoken downloads its encodings on first use, which fails offline. LiteLLM ships
cl100k_base and o200k_base in `litellm/litellm_core_utils/tokenizers/`; `ensure_tiktoken_cache()`
points `TIKTOKEN_CACHE_DIR` there (unless already set) before LiteLLM is first imported.
Importing this module does not import LiteLLM.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
from types import ModuleType
from typing import Any

from modelroute.catalog import estimate_tokens
from modelroute.token_bound import longest_text, text_token_bound
from modelroute.types import JSONDict, Message, Request

TOKENIZERS_SUBDIR = os.path.join("litellm_core_utils", "tokenizers")
"""Where LiteLLM keeps its bundled tokenizer files, relative to the `litellm` package."""

COUNT_CACHE_SIZE = 64
"""How many (model, messages) input-token counts `litellm_token_counter` remembers."""

COUNT_CACHE_MAX_CHARS = 65_536
"""Longer conversations are counted every time: the cache holds its keys' messages, so
this bounds what it keeps alive (64 x 64k characters at most)."""

COUNT_SETTINGS = ("disable_token_counter", "disable_hf_tokenizer_download")
"""LiteLLM settings that are part of a remembered count's key: a count made before one of them
changed is not reused. Other settings (the model lists LiteLLM picks a tokenizer from) need
`clear_token_count_cache()` after a change."""

_COUNTER_MODULE = "litellm.litellm_core_utils.token_counter"

_litellm_module: ModuleType | None = None


def tokenizer_dir() -> str | None:
    """Path of the tokenizer files LiteLLM ships, or None when LiteLLM is not installed.

    Found with `importlib.util.find_spec`, without importing LiteLLM.
    """
    spec = importlib.util.find_spec("litellm")
    if spec is None or spec.origin is None:
        return None
    path = os.path.join(os.path.dirname(spec.origin), TOKENIZERS_SUBDIR)
    return path if os.path.isdir(path) else None


def ensure_tiktoken_cache() -> None:
    """Set `TIKTOKEN_CACHE_DIR` to LiteLLM's bundled tokenizers unless it is already set."""
    path = tokenizer_dir()
    if path is not None:
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", path)


def load_litellm() -> ModuleType:
    """Import LiteLLM once (about 3-7 s), after `ensure_tiktoken_cache()`.

    Raises ImportError when LiteLLM is not installed (`pip install 'modelroute[litellm]'`).
    """
    global _litellm_module
    if _litellm_module is None:
        ensure_tiktoken_cache()
        import litellm

        _litellm_module = litellm
    return _litellm_module


class LiteLLMTokenCounter:
    """Input tokens with `litellm.token_counter`, remembered per (model, messages, settings),
    with a cheap upper bound for fit checks. Use the module's `litellm_token_counter`.

    Calling it, `counter(model, request)`, returns the input tokens of `request` for `model`
    (a LiteLLM name, e.g. `openai/gpt-4o-mini`; int >= 0): the messages and tool definitions
    counted with `litellm.token_counter`, images as LiteLLM's default image size (no image is
    fetched). Falls back to `modelroute.catalog.estimate_tokens` when LiteLLM cannot count
    (unknown content shapes). Raises ImportError when LiteLLM is not installed.

    A request without tools whose messages are hashable (text content) and shorter than
    `COUNT_CACHE_MAX_CHARS` is counted once per model and LiteLLM settings
    (`COUNT_SETTINGS`): the last `COUNT_CACHE_SIZE` counts are remembered, since one routed
    request is counted several times for the same model (the route's and the model's context
    checks, the usage estimate when the provider reported none) and each count costs
    LiteLLM's model lookups (~50 us). `clear_cache()` forgets them all.
    """

    def __call__(self, model: str, request: Request) -> int:
        """Input tokens of `request` for `model` (see the class docstring)."""
        litellm = load_litellm()  # ImportError when LiteLLM is missing, not the fallback
        try:
            if not request.tools and _small(request.messages) and _hashable(request.messages):
                settings = tuple(getattr(litellm, name, None) for name in COUNT_SETTINGS)
                return _cached_count(model, request.messages, settings)
            return _count(model, request.messages, request.tools)
        except Exception:
            return estimate_tokens(model, request)

    def upper_bound(self, model: str, request: Request) -> int | None:
        """`modelroute.token_bound.text_token_bound` (never below this counter's count), or
        None when a text is long enough for LiteLLM to extrapolate its count from samples
        (longer than `TOKEN_COUNTER_MAX_EXACT_CHARS`) or the request has tools or parts."""
        if longest_text(request) > _exact_chars_limit():
            return None
        return text_token_bound(model, request)

    def clear_cache(self) -> None:
        """Forget every remembered count (e.g. after changing a LiteLLM setting that
        `COUNT_SETTINGS` does not cover, such as `litellm.anthropic_models`)."""
        _cached_count.cache_clear()


litellm_token_counter = LiteLLMTokenCounter()
"""The LiteLLM token counter to inject: `Catalog(token_counter=litellm_token_counter)`."""


def clear_token_count_cache() -> None:
    """Forget every input-token count `litellm_token_counter` remembered."""
    _cached_count.cache_clear()


def _exact_chars_limit() -> int:
    """LiteLLM's `TOKEN_COUNTER_MAX_EXACT_CHARS` (longer texts are extrapolated from
    samples); 0 (no bound at all) for a LiteLLM version without it."""
    module = sys.modules.get(_COUNTER_MODULE)
    if module is None:
        load_litellm()
        module = importlib.import_module(_COUNTER_MODULE)
    return int(getattr(module, "TOKEN_COUNTER_MAX_EXACT_CHARS", 0))


def _small(messages: tuple[Message, ...]) -> bool:
    return sum(len(m.content) for m in messages if isinstance(m.content, str)) <= (
        COUNT_CACHE_MAX_CHARS
    )


def _hashable(messages: tuple[Message, ...]) -> bool:
    try:
        hash(messages)
    except TypeError:  # a list of content parts
        return False
    return True


@functools.lru_cache(maxsize=COUNT_CACHE_SIZE)
def _cached_count(model: str, messages: tuple[Message, ...], settings: tuple[object, ...]) -> int:
    return _count(model, messages, None)  # `settings` only keys the cache


def _count(model: str, messages: tuple[Message, ...], tools: tuple[JSONDict, ...] | None) -> int:
    """`litellm.token_counter` of these messages and tools; raises what LiteLLM raises."""
    litellm = load_litellm()
    kwargs: dict[str, Any] = {
        "model": model,
        "messages": [m.to_dict() for m in messages],
        "use_default_image_token_count": True,
    }
    if tools:
        kwargs["tools"] = [dict(t) for t in tools]
    return int(litellm.token_counter(**kwargs))


def count_text_tokens(model: str, text: str) -> int:
    """Tokens of a plain `text` for `model` with `litellm.token_counter` (~4 chars per token
    as a fallback). Used to estimate output tokens when a provider reports no usage."""
    if not text:
        return 0
    litellm = load_litellm()
    try:
        return int(litellm.token_counter(model=model, text=text))
    except Exception:
        return -(-len(text) // 4)
