"""Run the demo workload: start the local provider server, route each request through
LiteLLM with modelroute, and collect the decisions.

The workload is a simulation: answers come from modelroute's local provider server;
prices are LiteLLM's list prices for the named models (USD), or the recorded costs in
data mode (`modelroute.demo.recorded`). Each decision is written to the decision log
with what the simulation knows in `extra`: the request's `kind`, the returned answer's
`quality` and the baseline model's `baseline_quality` on the same request.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from modelroute.demo.recorded import RECORDED_UNIT_USD
from modelroute.demo.simulate import ModelAnswer, answers_for, logprobs
from modelroute.demo.workload import check_workload
from modelroute.demo.workload import load_workload as load_workload  # re-exported
from modelroute.errors import AllAttemptsFailed, LimitExceeded
from modelroute.records import BreakerTransition, Decision
from modelroute.sinks import JsonlSink
from modelroute.types import Request

DEMO_KEY = "sk-modelroute-demo"  # the local server accepts any key
ROUTER_KEYS = ("routes", "rules", "default_route", "baseline", "breaker", "limits")


@dataclass(frozen=True, slots=True)
class DemoRow:
    """One demo request: its route, prompt, the decision it produced, the answer text,
    its kind (simple/moderate/complex...) and the answer's quality when known."""

    route: str
    prompt: str
    decision: Decision
    answer: str | None
    kind: str | None = None
    quality: float | None = None


def _usage(answer: ModelAnswer, recorded: bool) -> dict[str, int] | None:
    if not recorded or answer.cost_usd is None:
        return None
    return {"completion_tokens": round(answer.cost_usd / RECORDED_UNIT_USD)}


def server_scripts(
    workload: Mapping[str, Any], answers: Sequence[Mapping[str, ModelAnswer]] | None = None
) -> dict[str, Any]:
    """Provider-server scripts: each model answers each prompt with its own answer.

    Rules are matched by substring, longest prompt first, so a prompt contained in a
    longer one never takes its answer.
    """
    from modelroute.provider_server import scripts_from_dict

    answers = answers if answers is not None else answers_for(workload)
    recorded = workload.get("pricing") == "recorded"
    order = sorted(range(len(workload["requests"])), key=lambda i: -len(_prompt(workload, i)))
    models: dict[str, Any] = {}
    for model in workload["models"]:
        rules = []
        for i in order:
            answer = answers[i][model]
            rule: dict[str, Any] = {"when": _prompt(workload, i), "answer": answer.text}
            if (lp := logprobs(answer)) is not None:
                rule["logprobs"] = lp
            if (usage := _usage(answer, recorded)) is not None:
                rule["usage"] = usage
            rules.append(rule)
        models[model] = {"rules": rules}
    return scripts_from_dict({"models": models})


def _prompt(workload: Mapping[str, Any], i: int) -> str:
    return str(workload["requests"][i]["prompt"])


def router_config(workload: Mapping[str, Any], base_url: str) -> dict[str, Any]:
    """The router config: the workload's routes, breaker, limits, and its models pointed
    at the local server (LiteLLM map entries, or recorded-cost pricing in data mode)."""
    recorded = workload.get("pricing") == "recorded"
    models = {}
    for m in workload["models"]:
        where = {
            "target": f"openai/{m}",
            "api_base": base_url,
            "api_key_env": "MODELROUTE_DEMO_KEY",
        }
        if recorded:
            models[m] = {
                **where,
                "provider": "recorded",
                "input_cost_per_mtok": 0.0,
                "output_cost_per_mtok": RECORDED_UNIT_USD * 1e6,
                "context_window": 1_000_000,
            }
        else:
            models[m] = {"from_litellm": m, **where}
    config = {key: workload[key] for key in ROUTER_KEYS if key in workload}
    return {"models": models, **config}


class _TransitionsTo:
    """A sink that passes only breaker transitions on (decisions are written enriched)."""

    def __init__(self, sink: JsonlSink) -> None:
        self._sink = sink

    def emit(self, decision: Decision) -> None:
        """Decisions are written by the runner, with what the simulation knows."""

    def emit_transition(self, transition: BreakerTransition) -> None:
        """Write the breaker transition."""
        self._sink.emit_transition(transition)


def enrich(
    decision: Decision,
    item: Mapping[str, Any],
    answers: Mapping[str, ModelAnswer],
    baseline: str | None,
) -> Decision:
    """The decision with the simulation's knowledge in `extra` (kind, quality of the
    returned answer, the baseline's quality) and, with recorded costs, the baseline
    model's recorded cost as the baseline cost."""
    extra = dict(decision.extra)
    if item.get("kind") is not None:
        extra["kind"] = item["kind"]
    base = answers.get(baseline) if baseline else None
    changes: dict[str, Any] = {}
    answered = answers.get(decision.responding_model or "")
    if decision.outcome.succeeded and answered is not None:
        quality = answered.correct
        if quality is not None:
            extra["quality"] = quality
            if base is not None and base.correct is not None:
                extra["baseline_quality"] = base.correct
        if base is not None and base.cost_usd is not None:
            changes["baseline_cost_usd"] = base.cost_usd
    return replace(decision, extra=extra, **changes)


def _request(item: Mapping[str, Any], workload: Mapping[str, Any]) -> Request:
    schema = workload.get("schemas", {}).get(item.get("schema"))
    max_tokens = (workload.get("simulation") or {}).get("max_tokens")
    return Request.of(
        item["prompt"],
        json_schema=schema,
        task=item["route"],
        team=item.get("team"),
        user=item.get("user"),
        max_tokens=item.get("max_tokens", max_tokens),
    )


def run_demo(
    out_dir: Path,
    on_row: Callable[[DemoRow], None] | None = None,
    workload_path: str | os.PathLike[str] | None = None,
    *,
    workload: Mapping[str, Any] | None = None,
    observers: Sequence[object] = (),
) -> list[DemoRow]:
    """Run the workload (`workload`, else the YAML at `workload_path`, else the packaged
    one); write the decision log to `out_dir/decisions.jsonl` and the router config used
    to `out_dir/config.yaml`. `observers` (e.g. an OTel observer) see every request.
    Raises `ConfigError` for a workload of the wrong shape (`modelroute.demo.workload`)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("MODELROUTE_DEMO_KEY", DEMO_KEY)
    from modelroute.provider_server import ProviderServer
    from modelroute.router import Router
    from modelroute_litellm.tokens import load_litellm

    load_litellm()  # import LiteLLM (~5 s) before timing the first request
    if workload is None:
        workload = load_workload(workload_path)
    else:
        check_workload(workload)
    answers = answers_for(workload)
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / "decisions.jsonl"
    log_path.unlink(missing_ok=True)
    log = JsonlSink(log_path)
    rows: list[DemoRow] = []
    with ProviderServer(server_scripts(workload, answers)).running() as srv:
        config = router_config(workload, srv.base_url)
        _write_config(out_dir / "config.yaml", config)
        router = Router.from_config(config, sinks=[_TransitionsTo(log)])
        for item, known in zip(workload["requests"], answers, strict=True):
            time.sleep(float(item.get("pause_s", 0.0)))
            for model, faults in (item.get("faults") or {}).items():
                srv.set_faults(model, faults)
            try:
                out = router.complete(_request(item, workload), observers=observers)
                decision, text = out.decision, out.text
            except (AllAttemptsFailed, LimitExceeded) as exc:
                assert exc.decision is not None
                decision, text = exc.decision, None
            srv.reset()
            decision = enrich(decision, item, known, workload.get("baseline"))
            log.emit(decision)
            row = DemoRow(
                item["route"],
                item["prompt"],
                decision,
                text,
                item.get("kind"),
                decision.extra.get("quality"),
            )
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return rows


def _write_config(path: Path, config: Mapping[str, Any]) -> None:
    import yaml

    header = "# The router config the demo ran (api_base is the run's local server).\n"
    path.write_text(header + yaml.safe_dump(dict(config), sort_keys=False), encoding="utf-8")
