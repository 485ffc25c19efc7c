"""4 processes x 50 concurrent requests against one team budget kept in a real Redis,
calling the local provider server over HTTP.

The in-flight rule (docs/limits.md): a call is admitted only while spent + reserved +
its estimate <= budget, so at most floor(budget / estimate) calls are in flight at once,
and the final spend exceeds the budget by at most what those in-flight calls cost beyond
their estimates. Here the server reports 40 prompt tokens where the estimate counts 11,
so the bound is exercised, not only met.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from modelroute.provider_server import Healthy, ModelScript, ProviderServer
from modelroute.provider_server import Usage as ServerUsage
from redis_server import RedisServer, redis_server  # noqa: F401

WORKER = Path(__file__).with_name("limits_worker.py")
PROCESSES, PER_PROCESS = 4, 50
BUDGET_USD = 0.02
PROMPT = "Count to ten, slowly please."  # 28 characters: 11 tokens by the cheap estimate
ACTUAL_USD = 40 * 1e-6 + 100 * 4e-6  # the server's usage: 40 in / 100 out on m-a


@pytest.mark.parametrize(
    "provider_server",
    [
        {
            "m-a": ModelScript(
                usage=ServerUsage(prompt_tokens=40, completion_tokens=100),
                fault=Healthy(delay=0.05),  # hold each call so that many are in flight
            )
        }
    ],
    indirect=True,
)
def test_four_processes_never_overspend_beyond_the_in_flight_rule(
    provider_server: ProviderServer,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    prefix = f"mp{os.urandom(4).hex()}:"
    cfg = {
        "redis": redis_server.url,
        "prefix": prefix,
        "base_url": provider_server.base_url,
        "budget_usd": BUDGET_USD,
        "prompt": PROMPT,
        "max_tokens": 100,
        "n": PER_PROCESS,
    }
    env = {**os.environ, "PYTHONPATH": ""}
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), json.dumps(cfg)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(PROCESSES)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)  # a bound for a hang, not a speed claim
        assert p.returncode == 0, err
        assert "modelroute limits" not in err, err  # no store failure, no fail-open
        results.append(json.loads(out.strip().splitlines()[-1]))

    accepted = sum(r["accepted"] for r in results)
    refused = sum(r["refused"] for r in results)
    assert [r["errors"] for r in results] == [[]] * PROCESSES
    assert accepted + refused == PROCESSES * PER_PROCESS
    assert provider_server.calls("m-a") == accepted  # the server's log is the truth

    client = redis.Redis.from_url(redis_server.url)
    keys = list(client.scan_iter(f"{prefix}budget:*"))
    spent = sum(int(client.hget(k, "spent") or 0) for k in keys)
    reserved = sum(int(client.hget(k, "reserved") or 0) for k in keys)
    assert reserved == 0
    assert spent == sum(r["cost_nano"] for r in results)  # Redis holds every recorded cost

    estimate = results[0]["estimate_usd"]
    assert estimate == pytest.approx(11 * 1e-6 + 100 * 4e-6)
    max_in_flight = math.floor(BUDGET_USD / estimate)
    bound = BUDGET_USD + max_in_flight * (ACTUAL_USD - estimate)
    assert spent / 1e9 <= bound + 1e-9
    assert accepted >= math.floor(BUDGET_USD / ACTUAL_USD)  # the budget was used, not wasted
    assert refused > 0
    print(f"accepted={accepted} spent=${spent / 1e9:.6f} bound=${bound:.6f}")
