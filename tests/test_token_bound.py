"""`modelroute.token_bound.text_token_bound` is never below the counts it stands in for: every
counter `litellm.token_counter` picks here (tiktoken o200k and cl100k, its default encoding for
unknown names, the bundled Hugging Face tokenizers for DeepSeek and Anthropic, the llama names
that fall back offline) and the core's `estimate_tokens`, on any unicode text."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from modelroute.catalog import Catalog, ModelInfo, estimate_tokens
from modelroute.token_bound import BoundedTokenCounter, text_token_bound, utf8_bytes
from modelroute.types import Request
from modelroute_litellm import litellm_token_counter
from modelroute_litellm.tokens import load_litellm

COUNTED_AS = {
    "gpt-4o": "o200k_base",
    "gpt-4": "cl100k_base",
    "openai/m-a": "LiteLLM's default for an unknown name",
    "deepseek-chat": "bundled Hugging Face tokenizer (ByteLevel, prefix space)",
    "claude-opus-4-5-20251101": "bundled Anthropic tokenizer (NFKC first)",
    "meta-llama/llama-3-8b-instruct": "llama-3: Hugging Face hub, offline fallback",
    "llama-2-7b-chat": "llama-2: Hugging Face hub, offline fallback",
}

NASTY = [
    "\ufdfa" * 7,  # 3 bytes that NFKC turns into 33
    "\u2460\u3392\ufb01",  # circled digit, squared unit, ligature: NFKC expands them
    "👩‍👩‍👧‍👦" * 5 + "🇯🇵🏳️‍🌈",  # emoji with joiners and flags
    "中文字符、日本語のテキスト、한국어 텍스트",
    " " * 97 + "\n" * 31 + "\t\r\n" * 9,  # whitespace runs
    "<|endoftext|><|im_start|>system<|im_end|>",  # special-token text is counted as text
    "",
]

messages_st = st.lists(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(["system", "user", "assistant"]),
            "content": st.one_of(
                st.text(max_size=300),
                st.sampled_from(NASTY),
                st.text(alphabet=" \n\t", max_size=80),
            ),
        },
        optional={"name": st.from_regex(r"[A-Za-z0-9_]{1,12}", fullmatch=True)},
    ),
    min_size=1,
    max_size=4,
)


def litellm_count(model: str, messages: list[dict[str, Any]]) -> int:
    """LiteLLM's own count, as `litellm_token_counter` asks for it (no cache in between)."""
    return int(
        load_litellm().token_counter(
            model=model, messages=messages, use_default_image_token_count=True
        )
    )


@pytest.mark.parametrize("model", list(COUNTED_AS))
@given(messages=messages_st)
@example(messages=[{"role": "user", "content": text} for text in NASTY])
def test_bound_is_never_below_litellms_count(model: str, messages: list[dict[str, Any]]) -> None:
    request = Request.of(messages)
    bound = litellm_token_counter.upper_bound(model, request)
    assert bound is not None
    assert bound >= litellm_count(model, messages)
    assert bound >= litellm_token_counter(model, request)
    assert bound == text_token_bound(model, request)


@given(messages=messages_st)
def test_bound_is_never_below_the_core_estimate(messages: list[dict[str, Any]]) -> None:
    request = Request.of(messages)
    bound = text_token_bound("any", request)
    assert bound is not None and bound >= estimate_tokens("any", request)


def test_formula_on_a_known_request() -> None:
    request = Request.of(
        [
            {"role": "system", "content": "Be brief."},  # 6 + 9 bytes
            {"role": "user", "content": "héllo", "name": "ann"},  # 4 + 6 + 3 bytes
        ]
    )
    # 3 per request; 5 per message; 3 per string plus its bytes
    assert text_token_bound("gpt-4o", request) == 3 + (5 + 9 + 12) + (5 + 7 + 9 + 6)
    assert utf8_bytes("\ufdfa") == len("\ufdfa".encode()) + 30  # its NFKC form is longer


def test_the_counters_are_the_ones_named() -> None:
    """The models above really reach the tokenizers they stand for; and the NFKC term is needed:
    the Anthropic tokenizer spends more tokens on U+FDFA than its UTF-8 bytes."""
    load_litellm()
    from litellm.utils import huggingface_tokenizer_kind, select_tokenizer

    kinds = {model: huggingface_tokenizer_kind(model) for model in COUNTED_AS}
    assert kinds["deepseek-chat"] == "deepseek" and kinds["gpt-4o"] is None
    assert kinds["claude-opus-4-5-20251101"] == "anthropic"
    assert select_tokenizer("claude-opus-4-5-20251101")["type"] == "huggingface_tokenizer"
    assert kinds["meta-llama/llama-3-8b-instruct"] == "llama3"
    assert kinds["llama-2-7b-chat"] == "llama2"
    text = {"role": "user", "content": "\ufdfa"}
    raw = litellm_count("claude-opus-4-5-20251101", [text]) - litellm_count(
        "claude-opus-4-5-20251101", [{"role": "user", "content": ""}]
    )
    assert raw > len("\ufdfa".encode())


TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
IMAGE = {"type": "image_url", "image_url": {"url": "https://example.invalid/cat.png"}}
CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


@pytest.mark.parametrize(
    "request_",
    [
        Request.of("hi", tools=[TOOL]),
        Request.of([{"role": "user", "content": [{"type": "text", "text": "hi"}, IMAGE]}]),
        Request.of(
            [{"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": [CALL]}]
        ),
    ],
    ids=["tools", "image", "tool_calls"],
)
def test_no_bound_for_parts_it_cannot_cover(request_: Request) -> None:
    assert text_token_bound("gpt-4o", request_) is None
    assert litellm_token_counter.upper_bound("gpt-4o", request_) is None


def test_no_bound_for_text_litellm_extrapolates(monkeypatch: pytest.MonkeyPatch) -> None:
    from litellm.litellm_core_utils import token_counter

    request = Request.of("x" * 11)
    assert litellm_token_counter.upper_bound("gpt-4o", request) is not None
    monkeypatch.setattr(token_counter, "TOKEN_COUNTER_MAX_EXACT_CHARS", 10)
    assert litellm_token_counter.upper_bound("gpt-4o", request) is None


def test_only_known_counters_get_a_bound() -> None:
    def plain(model: str, request: Request) -> int:
        return 1

    assert isinstance(litellm_token_counter, BoundedTokenCounter)
    assert not isinstance(plain, BoundedTokenCounter)
    catalog = Catalog([ModelInfo("m", max_input_tokens=10)], token_counter=plain)
    assert catalog._token_bound is None
    catalog.token_counter = litellm_token_counter  # as build_router sets it
    assert catalog._token_bound == litellm_token_counter.upper_bound
    assert Catalog()._token_bound is text_token_bound
