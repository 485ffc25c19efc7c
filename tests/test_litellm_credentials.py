"""Credentials in LiteLLM call kwargs (modelroute_litellm.credentials) and the backend's use."""

from __future__ import annotations

import base64

from modelroute.catalog import ModelInfo
from modelroute.types import Request
from modelroute_litellm import LiteLLMBackend
from modelroute_litellm.credentials import move_url_credentials, secret_values
from modelroute_litellm.errors import scrub


def test_url_user_info_becomes_a_basic_header() -> None:
    kwargs: dict[str, object] = {"api_base": "http://u:p%40ss@127.0.0.1:8080/v1"}
    move_url_credentials(kwargs)
    basic = base64.b64encode(b"u:p@ss").decode()
    assert kwargs == {
        "api_base": "http://127.0.0.1:8080/v1",
        "extra_headers": {"Authorization": f"Basic {basic}"},
    }
    given = {"api_base": "http://u:p@h/v1", "extra_headers": {"authorization": "Bearer t"}}
    move_url_credentials(given)
    assert given["extra_headers"] == {"authorization": "Bearer t"}  # an explicit header wins
    plain: dict[str, object] = {"api_base": "http://h/v1"}
    move_url_credentials(plain)
    assert plain == {"api_base": "http://h/v1"}


def test_secret_values_are_judged_by_name() -> None:
    kwargs = {
        "api_key": "k-1111",
        "aws_secret_access_key": "s-2222",
        "max_tokens": 10,
        "model": "openai/m-a",
        "extra_headers": {"x-api-key": "h-3333", "Authorization": "Bearer t-4444", "x-team": "ops"},
        "api_base": "http://u:p-5555@h/v1",
    }
    found = set(secret_values(kwargs))
    assert {"k-1111", "s-2222", "h-3333", "Bearer t-4444", "t-4444", "p-5555"} <= found
    assert not found & {"openai/m-a", "ops"}


def test_the_backend_sends_no_user_info_and_scrubs_every_credential() -> None:
    backend = LiteLLMBackend(
        api_key="sk-default-1111",
        extra_kwargs={
            "extra_headers": {"x-api-key": "hdr-2222"},
            "aws_secret_access_key": "sec-3333",
        },
    )
    model = ModelInfo("m-a", target="openai/m-a", api_base="http://u:pw-4444@127.0.0.1:9/v1")
    kwargs, secrets = backend._kwargs(model, Request.of("hi"), None, stream=False)
    assert kwargs["api_base"] == "http://127.0.0.1:9/v1"
    assert kwargs["extra_headers"]["Authorization"].startswith("Basic ")
    echoed = (
        "headers: x-api-key hdr-2222, sec-3333, pw-4444, sk-default-1111, Authorization: Basic dTpw"
    )
    assert scrub(echoed, secrets).count("***") == 5
    assert "pw-4444" not in repr(backend) + repr(model)
    backend.api_base = "http://u:pw-5555@h/v1"
    assert "pw-5555" not in repr(backend)


def test_scrub_hides_basic_credentials_in_authorization_values() -> None:
    text = '{"Authorization": "Basic dTpwdy0xMjM0", "note": "a basic understanding"}'
    assert scrub(text) == '{"Authorization": "***", "note": "a basic understanding"}'
