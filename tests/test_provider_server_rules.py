"""Per-answer token counts and logprobs in provider-server rules (used by the demo)."""

from __future__ import annotations

import httpx
import pytest

from modelroute.provider_server import ProviderServer, ScriptError, scripts_from_dict

SCRIPT = {
    "models": {
        "m-a": {
            "usage": {"prompt_tokens": 7},
            "rules": [
                {
                    "when": "sure",
                    "answer": "Yes.",
                    "logprobs": [-0.1, -0.3],
                    "usage": {"completion_tokens": 500000},
                },
                {"when": "plain", "answer": "Plain."},
            ],
        }
    }
}


def _ask(srv: ProviderServer, text: str) -> dict[str, object]:
    payload = {"model": "m-a", "messages": [{"role": "user", "content": text}]}
    body: dict[str, object] = httpx.post(
        f"{srv.base_url}/chat/completions", json=payload, timeout=5.0
    ).json()
    return body


@pytest.mark.parametrize("provider_server", [scripts_from_dict(SCRIPT)], indirect=True)
def test_a_rule_reports_its_own_usage_and_logprobs(provider_server: ProviderServer) -> None:
    body = _ask(provider_server, "are you sure?")
    (choice,) = body["choices"]  # type: ignore[misc]
    assert [t["logprob"] for t in choice["logprobs"]["content"]] == [-0.1, -0.3]
    # the rule's usage replaces the model's; its unset counts are estimated (13 chars -> 4)
    assert body["usage"] == {
        "prompt_tokens": 4,
        "completion_tokens": 500000,
        "total_tokens": 500004,
    }
    plain = _ask(provider_server, "plain please")
    (choice,) = plain["choices"]  # type: ignore[misc]
    assert choice["logprobs"] is None
    assert plain["usage"]["prompt_tokens"] == 7  # type: ignore[index]
    assert plain["usage"]["completion_tokens"] == 2  # type: ignore[index]  # "Plain." estimated


@pytest.mark.parametrize(
    ("rule", "path"),
    [
        ({"when": "x", "logprobs": ["high"]}, "models.m-a.rules[0].logprobs"),
        ({"when": "x", "usage": {"tokens": 3}}, "models.m-a.rules[0].usage"),
    ],
)
def test_bad_rule_fields_name_their_path(rule: dict[str, object], path: str) -> None:
    with pytest.raises(ScriptError, match=path.replace("[", r"\[").replace("]", r"\]")):
        scripts_from_dict({"models": {"m-a": {"rules": [rule]}}})
