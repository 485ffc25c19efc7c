"""`modelroute eval`: run one prompt set across several models and compare them.

Progress goes to stderr (a rich progress bar); stdout gets the markdown summary, or
exactly one JSON object with `--json`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from modelroute.cli_errors import whole_number_at_least

if TYPE_CHECKING:
    from rich.console import Console

    from modelroute.evaluation.prompts import EvalPrompt
    from modelroute.evaluation.runner import EvalRun


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `eval` subcommand."""
    p = sub.add_parser(
        "eval",
        help="run a prompt set across models, score the answers, compare them",
        description="Ask every model every prompt (through LiteLLM; against the local provider "
        "server with --server or when keys are missing), score each answer, and write the "
        "comparison report. Results are appended as they finish: a rerun skips answered pairs.",
    )
    p.add_argument(
        "--prompts",
        default=None,
        help=".jsonl or .csv with `prompt` and optional "
        "`expected`, `kind`, `id` (default: the demo workload's prompts)",
    )
    p.add_argument(
        "--models", default=None, help="comma-separated model names (default: the demo's models)"
    )
    p.add_argument("--server", action="store_true", help="use the local provider server")
    p.add_argument("--script", default=None, help="the local server's model script file")
    p.add_argument("--out", default="out/eval", help="folder for results.jsonl and the report")
    p.add_argument(
        "--concurrency",
        type=whole_number_at_least(1),
        default=4,
        help="requests at a time (default 4)",
    )
    p.add_argument("--judge", default=None, help="a model that grades answers without `expected`")
    p.add_argument(
        "--validators",
        default="",
        help="comma-separated validators that grade "
        "answers without `expected` or judge, e.g. non_empty,json",
    )
    p.add_argument(
        "--target",
        type=_share,
        default=0.95,
        help="good enough = at least this share of the best quality (default 0.95)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=run)


def _prompts(args: argparse.Namespace) -> list[EvalPrompt]:
    from modelroute.evaluation.prompts import demo_prompts, load_prompts

    return load_prompts(args.prompts) if args.prompts else demo_prompts()


def _models(args: argparse.Namespace) -> list[str]:
    if args.models:
        return [m.strip() for m in args.models.split(",") if m.strip()]
    from modelroute.demo.runner import load_workload

    return list(load_workload()["models"])


def _use_server(args: argparse.Namespace, models: list[str], err: Console) -> bool:
    from modelroute.evaluation.runner import have_keys

    if args.server:
        err.print("answers come from the local provider server (a simulation, --server)")
        return True
    if have_keys([*models, *([args.judge] if args.judge else [])]):
        err.print("calling the real providers through LiteLLM (keys found)")
        return False
    err.print("no provider keys found: answers come from the local provider server (a simulation)")
    return True


def _execute(args: argparse.Namespace, err: Console) -> tuple[EvalRun, bool, list[str], list[str]]:
    """Ask every model every prompt (resuming); returns the run, whether the local server
    answered, the prompt ids and the models."""
    import asyncio

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from modelroute.evaluation.runner import Grader, router_config, run_eval, serving
    from modelroute.evaluation.scoring import build_validators
    from modelroute.router import Router
    from modelroute_litellm.tokens import load_litellm

    prompts, models = _prompts(args), _models(args)
    specs = [s.strip() for s in args.validators.split(",") if s.strip()]
    grader = Grader(build_validators(specs), judge=args.judge is not None)
    with err.status("importing LiteLLM (~5 s)..."):
        load_litellm()
    use_server = _use_server(args, models, err)
    judge = [args.judge] if args.judge else []
    with serving([*models, *judge], args.script, use_server) as base_url:
        router = Router.from_config(router_config(models, args.judge, base_url))
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=err) as progress:
            task = progress.add_task("evaluating", total=len(prompts) * len(models))
            run = asyncio.run(
                run_eval(
                    router,
                    prompts,
                    models,
                    Path(args.out) / "results.jsonl",
                    grader=grader,
                    concurrency=args.concurrency,
                    on_done=lambda d: progress.advance(task),
                )
            )
    return run, use_server, [p.id for p in prompts], models


def run(args: argparse.Namespace) -> int:
    """Run the evaluation, then write and name the comparison report."""
    import os

    from rich.console import Console

    from modelroute.evaluation.compare import compare
    from modelroute.evaluation.render import render_html, render_markdown
    from modelroute.report.html import write_text

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    err = Console(stderr=True)
    out_dir = Path(args.out)
    results = out_dir / "results.jsonl"
    stats, use_server, ids, models = _execute(args, err)
    comparison = compare(results, models, ids, target=args.target)
    mode = "local provider server (simulated answers)" if use_server else "real providers"
    page = render_html(comparison, source=str(results), subtitle=f", answers from the {mode}")
    html = write_text(out_dir / "report.html", page)
    markdown = render_markdown(comparison, source=str(results))
    md = write_text(out_dir / "report.md", markdown)
    err.print(
        f"ran {stats.ran} (prompt, model) pairs, {stats.skipped} already done, "
        f"{stats.failed} failed; results: {results}"
    )
    if args.json:
        payload = {
            **comparison.to_dict(),
            "ran": stats.ran,
            "skipped": stats.skipped,
            "failed": stats.failed,
            "server": use_server,
            "results": str(results),
            "report_html": str(html),
            "report_markdown": str(md),
        }
        sys.stdout.write(json.dumps(payload) + "\n")
    else:
        sys.stdout.write(markdown)
    err.print(f"HTML report: [bold]{html}[/bold]", highlight=False)
    return 0


def _share(text: str) -> float:
    """`--target`: a share of the best quality in (0, 1]. Raises `argparse.ArgumentTypeError`
    (a percentage such as 95 gets a hint)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value > 1:
        raise argparse.ArgumentTypeError(f"{text} is above 1: give a fraction, e.g. 0.95")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value
