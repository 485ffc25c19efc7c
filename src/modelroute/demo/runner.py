"""Run the demo workload: start the local provider server, route each request through
LiteLLM with modelroute, and collect the decisions.

The workload is a simulation: answers come from modelroute's local provider server;
prices are LiteLLM's list prices for the named models (USD).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from modelroute.errors import AllAttemptsFailed
from modelroute.records import Decision
from modelroute.types import Request

DEMO_KEY = "sk-modelroute-demo"  # the local server accepts any key


@dataclass(frozen=True, slots=True)
class DemoRow:
    """One demo request: its route, prompt, and the decision it produced."""

    route: str
    prompt: str
    decision: Decision
    answer: str | None


def load_workload(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The workload YAML (the packaged one by default)."""
    import yaml

    if path is None:
        text = resources.files("modelroute.demo").joinpath("workload.yaml").read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def server_scripts(workload: Mapping[str, Any]) -> dict[str, Any]:
    """Provider-server scripts: every model answers each prompt with its workload answer."""
    from modelroute.provider_server import scripts_from_dict

    rules = [{"when": r["prompt"], "answer": r["answer"]} for r in workload["requests"]]
    return scripts_from_dict({"models": {m: {"rules": rules} for m in workload["models"]}})


def router_config(workload: Mapping[str, Any], base_url: str, log_path: Path) -> dict[str, Any]:
    """The router config: LiteLLM map entries pointed at the local server."""
    models = {
        m: {
            "from_litellm": m,
            "target": f"openai/{m}",
            "api_base": base_url,
            "api_key_env": "MODELROUTE_DEMO_KEY",
        }
        for m in workload["models"]
    }
    return {
        "models": models,
        "routes": workload["routes"],
        "baseline": workload["baseline"],
        "breaker": workload.get("breaker", {}),
        "decision_log": str(log_path),
    }


def run_demo(
    out_dir: Path,
    on_row: Callable[[DemoRow], None] | None = None,
    workload_path: str | os.PathLike[str] | None = None,
) -> list[DemoRow]:
    """Run the workload; write the decision log to `out_dir/decisions.jsonl`."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("MODELROUTE_DEMO_KEY", DEMO_KEY)
    from modelroute.provider_server import ProviderServer
    from modelroute.router import Router
    from modelroute_litellm.tokens import load_litellm

    load_litellm()  # import LiteLLM (~5 s) before timing the first request
    workload = load_workload(workload_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / "decisions.jsonl"
    log_path.unlink(missing_ok=True)
    rows: list[DemoRow] = []
    with ProviderServer(server_scripts(workload)).running() as srv:
        router = Router.from_config(router_config(workload, srv.base_url, log_path))
        for item in workload["requests"]:
            time.sleep(float(item.get("pause_s", 0.0)))
            for model, faults in item.get("faults", {}).items():
                srv.set_faults(model, faults)
            schema = workload.get("schemas", {}).get(item.get("schema"))
            request = Request.of(item["prompt"], json_schema=schema, task=item["route"])
            try:
                out = router.complete(request)
                row = DemoRow(item["route"], item["prompt"], out.decision, out.text)
            except AllAttemptsFailed as exc:
                row = DemoRow(item["route"], item["prompt"], exc.decision, None)
            srv.reset()
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return rows
