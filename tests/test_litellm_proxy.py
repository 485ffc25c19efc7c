"""The LiteLLM proxy (its own venv, `litellm[proxy]==1.108.0`) on 127.0.0.1, running the shipped
integrations/modelroute_litellm/proxy/config.yaml unchanged, against the local provider server;
requests go through the openai client. The first run builds the venv (see
tests/litellm_proxy_venv.py); `-m proxy` selects this test alone, `-m "not proxy"` skips it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from litellm_proxy_venv import ProxyVenvError, ensure_proxy_venv
from modelroute.provider_server import ModelScript, ProviderServer, Usage, rate_limited

pytestmark = [pytest.mark.proxy]

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "integrations" / "modelroute_litellm" / "proxy" / "config.yaml"
MASTER_KEY = "sk-proxy-master-test-0c1d"
PROVIDER_KEY = "sk-provider-test-9e8f"
SCRIPTS = {
    "m-cheap": ModelScript(answer="positive", usage=Usage(prompt_tokens=20, completion_tokens=2)),
    "m-strong": ModelScript(
        answer="a long answer", usage=Usage(prompt_tokens=900, completion_tokens=80)
    ),
    "m-b": ModelScript(answer="from backup", usage=Usage(prompt_tokens=20, completion_tokens=3)),
}
SHORT = "Classify the sentiment as positive or negative: 'Great phone!'"
LONG = "Explain why, step by step, and compare the trade-offs of both designs. " + (
    "Here is more context about the system and its constraints. " * 120
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
            pytest.fail(f"the LiteLLM proxy exited with {proc.returncode}:\n{tail}")
        try:
            if (
                httpx.get(f"http://127.0.0.1:{port}/health/liveliness", timeout=1).status_code
                == 200
            ):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
    pytest.fail(f"the LiteLLM proxy did not answer within {timeout:.0f} s:\n{tail}")


@pytest.fixture
def proxy(provider_server: ProviderServer, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(proxy base URL, decision log path): the proxy started on a free loopback port, stopped
    (by its process group id) after the test."""
    try:
        venv = ensure_proxy_venv()
    except ProxyVenvError as exc:
        pytest.fail(f"could not build the proxy venv: {exc}")
    port = _free_port()
    decisions = tmp_path / "decisions.jsonl"
    log = tmp_path / "proxy.log"
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT / 'integrations'}",
        "MODELROUTE_PROVIDER_BASE": provider_server.base_url,
        "MODELROUTE_PROVIDER_KEY": PROVIDER_KEY,
        "MODELROUTE_PROXY_MASTER_KEY": MASTER_KEY,
        "MODELROUTE_DECISION_LOG": str(decisions),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "HF_HUB_OFFLINE": "1",
    }
    command = [str(venv / "bin" / "litellm"), "--config", str(CONFIG)]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_ready(proc, port, log, timeout=180.0)
        yield f"http://127.0.0.1:{port}", decisions
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _decisions(path: Path, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    lines: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        if path.exists():
            rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
            lines = [r for r in rows if r["type"] == "decision"]
            if len(lines) >= count:
                break
        time.sleep(0.1)
    assert len(lines) == count, lines
    return lines


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
def test_proxy_routes_by_score_and_records_every_hop(
    provider_server: ProviderServer, proxy: tuple[str, Path]
) -> None:
    import openai

    base_url, log = proxy
    client = openai.OpenAI(base_url=base_url, api_key=MASTER_KEY, max_retries=0)

    short = client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": SHORT}]
    )
    long = client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": LONG}]
    )
    provider_server.set_faults("m-cheap", [rate_limited(retry_after=3)])
    raw = client.chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": SHORT}]
    )
    fallback = raw.parse()

    assert short.choices[0].message.content == "positive"
    assert long.choices[0].message.content == "a long answer"
    assert fallback.choices[0].message.content == "from backup"
    calls = {m: provider_server.calls(m) for m in SCRIPTS}
    assert calls == {"m-cheap": 2, "m-strong": 1, "m-b": 1}
    first, second, third = _decisions(log, 3)
    for record, tier in ((first, "openai/m-cheap"), (second, "openai/m-strong")):
        assert (record["route"], record["strategy"], record["tier"]) == ("chat", "modelroute", tier)
        assert record["responding_model"] == tier
    assert first["score"] < 0.3 <= second["score"]
    assert first["cost_usd"] == pytest.approx(20 * 0.5e-6 + 2 * 1.5e-6, abs=1e-12)
    assert [(a["model"], a["reason"]) for a in third["attempts"]] == [
        ("openai/m-cheap", "rate_limited"),
        ("openai/m-b", None),
    ]
    assert third["attempts"][0]["status_code"] == 429
    assert third["cost_usd"] == pytest.approx(float(raw.headers["x-litellm-response-cost"]))
    stored = log.read_text(encoding="utf-8")
    assert PROVIDER_KEY not in stored and MASTER_KEY not in stored
