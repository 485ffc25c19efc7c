"""Message content on spans: off by default, opt-in by env (read once) or argument; no secrets."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from helpers import catalog, collect_stream, run
from modelroute.types import Message, Request, Response
from modelroute_otel import capture_from_env, redact
from modelroute_otel.attributes import ENV_CAPTURE_CONTENT
from modelroute_otel.content import input_messages, output_messages
from otel_helpers import Otel, attrs, make_router

SECRET = "sk-proj-abcdefghijklmnop1234"
CONTENT_KEYS = ("gen_ai.input.messages", "gen_ai.output.messages")


@pytest.fixture
def otel() -> Iterator[Otel]:
    telemetry = Otel()
    yield telemetry
    telemetry.shutdown()


def traced(otel: Otel, **kwargs: object) -> None:
    router = make_router({"m-a": ["The answer."], "m-b": ["b"]}, [otel.observer(**kwargs)])
    run(
        router,
        "sync",
        Request.of([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q?"}]),
    )


def test_content_is_off_by_default(otel: Otel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_CAPTURE_CONTENT, raising=False)
    traced(otel)
    (attempt,) = otel.attempts()
    assert not set(CONTENT_KEYS) & set(attrs(attempt))
    assert "Q?" not in json.dumps([attrs(s) for s in otel.spans()])


@pytest.mark.parametrize("value", ["true", "True", "1", "SPAN_ONLY", "span_and_event"])
def test_env_turns_content_on_when_the_observer_is_built(
    otel: Otel, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(ENV_CAPTURE_CONTENT, value)
    obs = otel.observer()
    monkeypatch.setenv(ENV_CAPTURE_CONTENT, "false")  # read once: later changes are ignored
    run(make_router({"m-a": ["The answer."]}, [obs]), "sync", "Q?")
    got = attrs(otel.attempts()[0])
    assert json.loads(got["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Q?"}]}
    ]
    assert json.loads(got["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "The answer."}],
            "finish_reason": "",
        }
    ]
    assert not set(CONTENT_KEYS) & set(attrs(otel.route()))  # never on the route span


@pytest.mark.parametrize("value", ["", "false", "0", "NO_CONTENT", "EVENT_ONLY"])
def test_env_values_that_keep_content_off(value: str) -> None:
    assert capture_from_env({ENV_CAPTURE_CONTENT: value}) is False


def test_explicit_argument_beats_the_env(otel: Otel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_CAPTURE_CONTENT, "true")
    traced(otel, capture_content=False)
    assert not set(CONTENT_KEYS) & set(attrs(otel.attempts()[0]))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_streamed_answer_is_captured_whole(otel: Otel, mode: str) -> None:
    router = make_router({"m-a": ["one two three four"]}, [otel.observer(capture_content=True)])
    collect_stream(router, mode, "count")
    out = json.loads(attrs(otel.attempts()[0])["gen_ai.output.messages"])
    assert out[0]["parts"] == [{"type": "text", "content": "one two three four"}]


def test_secrets_are_never_recorded(otel: Otel) -> None:
    cat = catalog(
        m_a={"api_base": f"https://user:{SECRET}@llm.example.com/v1", "api_key_env": "MY_KEY"}
    )
    router = make_router({"m-a": ["ok"]}, [otel.observer(capture_content=True)], catalog=cat)
    request = Request.of(
        f"my key is {SECRET}, Authorization: Bearer abcdefghijklmnopqrstu",
        params={"api_key": SECRET, "extra_headers": {"Authorization": f"Bearer {SECRET}"}},
        metadata={"token": SECRET},
        user="alice@example.com",
    )
    run(router, "sync", request)
    dumped = json.dumps([attrs(s) for s in otel.spans()], default=str)
    for secret in (SECRET, "abcdefghijklmnopqrstu", "MY_KEY", "user:"):
        assert secret not in dumped
    # the user is no credential: shown as the record shows it (a pseudonym when users are
    # redacted, see modelroute.privacy and BC-14), so every sink agrees
    assert attrs(otel.route())["modelroute.user"] == "alice@example.com"
    attempt = attrs(otel.attempts()[0])
    assert attempt["server.address"] == "llm.example.com"
    assert attempt["server.port"] == 443
    assert "[REDACTED]" in attempt["gen_ai.input.messages"]


def test_error_messages_are_redacted(otel: Otel) -> None:
    from modelroute.errors import AuthenticationFailed

    router = make_router(
        {"m-a": [AuthenticationFailed(f"bad key {SECRET}", status_code=401)], "m-b": ["b"]},
        [otel.observer()],
    )
    run(router, "sync", "hi")
    first = otel.attempts()[0]
    assert SECRET not in (first.status.description or "")
    assert "[REDACTED]" in (first.status.description or "")


def test_message_shapes_for_tools_images_and_tool_results() -> None:
    request = Request.of(
        [
            Message(
                "user",
                [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "https://x.test/a.png?sig=SECRET"}},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
            ),
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "look", "arguments": '{"q": 1}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "a cat"},
        ]
    )
    assert json.loads(input_messages(request)) == [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "What is this?"},
                {"type": "uri", "modality": "image", "uri": "https://x.test/a.png"},
                {"type": "blob", "modality": "image", "mime_type": "image/png"},
            ],
        },
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "c1", "name": "look", "arguments": {"q": 1}}],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "c1", "response": "a cat"}],
        },
    ]
    response = Response(
        text="",
        finish_reason="tool_calls",
        tool_calls=({"id": "c2", "function": {"name": "f", "arguments": "not json"}},),
    )
    assert json.loads(output_messages(response)) == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "c2", "name": "f", "arguments": "not json"}],
            "finish_reason": "tool_calls",
        }
    ]


@pytest.mark.parametrize(
    "text",
    [
        "sk-abcdefghijk123",
        "Bearer abc.def-ghi_jkl",
        'api_key="s3cr3t-value"',
        "x-api-key: AKIAxxxxxxxx",
        "authorization=Basic123456",
    ],
)
def test_redact_hides_key_like_strings(text: str) -> None:
    assert redact(f"before {text} after").startswith("before [REDACTED]")


def test_redact_leaves_ordinary_text_alone() -> None:
    text = "The task-force asked 12 questions about skiing; key insight: none."
    assert redact(text) == text
