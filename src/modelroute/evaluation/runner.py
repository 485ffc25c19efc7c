"""Running a prompt set across models: concurrently, resumably, through LiteLLM.

Every (prompt, model) pair is one routed request on a one-model route named after the
model, so each result is an ordinary `Decision` (the decision-log schema), written to the
results file as soon as it is scored, with the score in `extra` (`prompt_id`, `kind`,
`quality`, `score_method`, `score_detail`, `answer`). A rerun skips every pair already
answered in the file; failed pairs are tried again (the last line of a pair wins).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelroute.errors import AllAttemptsFailed, LimitExceeded
from modelroute.evaluation.prompts import EvalPrompt
from modelroute.evaluation.scoring import (
    Score,
    expected_match,
    judge_prompt,
    judge_score,
    validator_score,
)
from modelroute.records import Decision
from modelroute.report.data import DecisionLog
from modelroute.sinks import JsonlSink
from modelroute.validators import Validator

if TYPE_CHECKING:
    from modelroute.provider_server import ModelScript
    from modelroute.router import Router

EVAL_KEY = "sk-modelroute-eval"  # the local server accepts any key
JUDGE_ROUTE = "judge"
MAX_ANSWER_CHARS = 4000  # answers longer than this are cut in the results file


@dataclass(frozen=True, slots=True)
class EvalRun:
    """How a run went: pairs `ran` now, `skipped` (already answered in the file), and
    `failed` (no model answer; tried again on the next run)."""

    ran: int
    skipped: int
    failed: int


def have_keys(models: Sequence[str]) -> bool:
    """True when LiteLLM finds provider credentials for every model."""
    from modelroute_litellm.tokens import load_litellm

    litellm = load_litellm()
    for model in models:
        try:
            found = litellm.validate_environment(model=model).get("keys_in_environment")
        except Exception:  # unknown provider: LiteLLM raises assorted errors
            return False
        if not found:
            return False
    return True


def server_scripts(models: Sequence[str], script: str | None) -> dict[str, ModelScript]:
    """The local server's scripts: from `script` (a provider-server script file), else the
    demo workload's simulated answers for the demo's models; other models answer
    "Hello from <model>."."""
    from modelroute.provider_server import ModelScript, load_scripts

    if script is not None:
        given = load_scripts(script)
    else:
        from modelroute.demo.runner import load_workload
        from modelroute.demo.runner import server_scripts as demo_scripts

        given = demo_scripts(load_workload())
    return {m: given.get(m, ModelScript()) for m in models}


@contextlib.contextmanager
def serving(models: Sequence[str], script: str | None, use_server: bool) -> Iterator[str | None]:
    """The local provider server's base URL for the block (None: real providers)."""
    if not use_server:
        yield None
        return
    from modelroute.provider_server import ProviderServer

    os.environ.setdefault("MODELROUTE_EVAL_KEY", EVAL_KEY)
    with ProviderServer(server_scripts(models, script)).running() as srv:
        yield srv.base_url


def router_config(
    models: Sequence[str], judge: str | None, base_url: str | None, *, retries: int = 2
) -> dict[str, Any]:
    """One route per model (named after it), plus a `judge` route; models take LiteLLM's
    prices when its map knows them (else they are free: their cost is unknown)."""
    from modelroute.catalog import litellm_model_map

    known = litellm_model_map()
    names = list(dict.fromkeys([*models, *([judge] if judge else [])]))
    config_models: dict[str, Any] = {}
    for name in names:
        entry: dict[str, Any] = {"from_litellm": name} if name in known else {"target": name}
        if base_url is not None:
            entry.update(
                target=f"openai/{name}", api_base=base_url, api_key_env="MODELROUTE_EVAL_KEY"
            )
        config_models[name] = entry
    routes = {m: {"models": [m], "retries": retries} for m in models}
    if judge:
        routes[JUDGE_ROUTE] = {"models": [judge], "retries": retries}
    return {"models": config_models, "routes": routes}


def completed(results: Path) -> set[tuple[str, str]]:
    """(prompt id, model) pairs already answered in the results file."""
    if not results.is_file():
        return set()
    done: set[tuple[str, str]] = set()
    for d in DecisionLog(results):
        key = (str(d.extra.get("prompt_id")), d.route)
        if d.outcome.succeeded:
            done.add(key)
        else:
            done.discard(key)
    return done


async def _ask(router: Router, text: str, route: str) -> tuple[Decision, str | None]:
    try:
        out = await router.acomplete(text, route=route)
    except (AllAttemptsFailed, LimitExceeded) as exc:
        assert exc.decision is not None
        return exc.decision, None
    return out.decision, out.text


@dataclass(frozen=True, slots=True)
class Grader:
    """How answers are scored: the expected answer when the prompt has one, else the
    judge model when given, else the validators when given; else unscored."""

    validators: tuple[Validator, ...] = ()
    judge: bool = False

    async def score(self, router: Router, prompt: EvalPrompt, answer: str) -> Score:
        """The score of `answer` to `prompt`."""
        if prompt.expected is not None:
            return expected_match(answer, prompt.expected)
        if self.judge:
            decision, reply = await _ask(
                router, judge_prompt(prompt.prompt, prompt.expected, answer), JUDGE_ROUTE
            )
            if reply is None:
                return Score(None, "judge", f"judge failed: {decision.outcome.value}")
            return judge_score(reply)
        if self.validators:
            return validator_score(answer, prompt.prompt, self.validators)
        return Score(None, "none", "no expected answer, judge or validators")


async def run_eval(
    router: Router,
    prompts: Sequence[EvalPrompt],
    models: Sequence[str],
    results: Path,
    *,
    grader: Grader,
    concurrency: int = 4,
    on_done: Callable[[Decision], None] | None = None,
) -> EvalRun:
    """Ask every model every prompt not yet answered in `results`, at most `concurrency`
    requests at a time; append each scored result to `results` as it finishes."""
    done = completed(results)
    todo = [(p, m) for p in prompts for m in models if (p.id, m) not in done]
    sink = JsonlSink(results)
    gate = asyncio.Semaphore(max(1, concurrency))
    failed = 0

    async def one(prompt: EvalPrompt, model: str) -> None:
        nonlocal failed
        async with gate:
            decision, answer = await _ask(router, prompt.prompt, model)
            score = await grader.score(router, prompt, answer) if answer is not None else None
        extra: dict[str, Any] = {"prompt_id": prompt.id, "kind": prompt.kind}
        if score is not None:
            extra.update(quality=score.value, score_method=score.method, score_detail=score.detail)
        if answer is not None:
            extra["answer"] = answer[:MAX_ANSWER_CHARS]
        else:
            failed += 1
        decision = replace(decision, extra={**decision.extra, **extra})
        sink.emit(decision)
        if on_done is not None:
            on_done(decision)

    await asyncio.gather(*(one(p, m) for p, m in todo))
    return EvalRun(ran=len(todo), skipped=len(prompts) * len(models) - len(todo), failed=failed)
