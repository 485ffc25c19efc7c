"""A cheap, safe upper bound on a request's input tokens, to skip the exact count when a
request clearly fits a context window or a route's `max_input_tokens`.

The bound (`text_token_bound`): for a request of text messages only (no tools, no content
parts, no tool calls),

    bound = 3 + sum over messages of (5 + sum over its strings s of (utf8_bytes(s) + 3))

where a message's strings are its role, content, name and tool_call_id (those present), and
`utf8_bytes(s)` is the larger of the UTF-8 length of `s` and of its NFKC form. Why it is
never below the count of the counters it is declared for (`litellm.token_counter` and
`modelroute.catalog.estimate_tokens`):

- a byte-level BPE token (tiktoken cl100k/o200k; the HF tokenizers LiteLLM bundles) stands for
  at least one byte of its (normalized) input, so a string costs at most its bytes; the NFKC
  form covers tokenizers that normalize first (LiteLLM's Anthropic tokenizer: U+FDFA is 3
  bytes but 33 after NFKC);
- `+ 3` per string covers tokens a tokenizer adds to each text: a start and an end token and a
  prefix space (sentencepiece's dummy prefix, ByteLevel `add_prefix_space`);
- `5` per message covers LiteLLM's `tokens_per_message` (3 or 4) and `tokens_per_name` (1);
  `3` per request its reply primer (LiteLLM counts every string field of a message);
- `estimate_tokens` (ceil(chars / 4) + 4 per message) is below it since bytes >= chars.

Requests the formula cannot cover (tool definitions, images and other content parts, tool
calls) get None: count them exactly. `tests/test_token_bound.py` checks the claim for every
counter LiteLLM picks here, on any unicode text (hypothesis).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from modelroute.types import Request

REQUEST_OVERHEAD = 3
"""Tokens the bound adds once per request (LiteLLM's reply primer)."""

MESSAGE_OVERHEAD = 5
"""Tokens the bound adds per message (LiteLLM's tokens_per_message <= 4, tokens_per_name <= 1)."""

STRING_OVERHEAD = 3
"""Tokens the bound adds per counted string (start and end tokens, a prefix space)."""

TokenBound = Callable[[str, Request], "int | None"]
"""(model name, request) -> an upper bound on its input tokens, or None when there is none."""


@runtime_checkable
class BoundedTokenCounter(Protocol):
    """A token counter that also declares a cheap upper bound of its own counts.

    `upper_bound(model, request)` must never be below `counter(model, request)`, or return
    None (then the catalog counts exactly). A counter without it is always counted exactly.
    """

    def __call__(self, model: str, request: Request) -> int:
        """Input tokens of `request` for `model` (int, >= 0)."""
        ...

    def upper_bound(self, model: str, request: Request) -> int | None:
        """An int >= `self(model, request)`, or None when no cheap bound applies."""
        ...


def utf8_bytes(text: str) -> int:
    """The larger of the UTF-8 length of `text` and of its NFKC form (lone surrogates count
    3 bytes each, as `surrogatepass` writes them)."""
    if text.isascii():  # ASCII is NFKC already
        return len(text)
    import unicodedata

    size = len(text.encode("utf-8", "surrogatepass"))
    if unicodedata.is_normalized("NFKC", text):
        return size
    normal = unicodedata.normalize("NFKC", text)
    return max(size, len(normal.encode("utf-8", "surrogatepass")))


def text_token_bound(model: str, request: Request) -> int | None:
    """Upper bound on `request`'s input tokens (formula in the module docstring), or None
    when the request has tools, content parts or tool calls. `model` is not used: the bound
    holds for every counter it is declared for."""
    if request.tools:
        return None
    total = REQUEST_OVERHEAD
    for m in request.messages:
        if m.tool_calls or not (m.content is None or isinstance(m.content, str)):
            return None
        total += MESSAGE_OVERHEAD
        for text in (m.role, m.content, m.name, m.tool_call_id):
            if text is not None:
                total += utf8_bytes(text) + STRING_OVERHEAD
    return total


def longest_text(request: Request) -> int:
    """Characters of the longest string content in `request` (0 when none)."""
    return max((len(m.content) for m in request.messages if isinstance(m.content, str)), default=0)
