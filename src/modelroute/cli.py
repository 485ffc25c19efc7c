"""The `modelroute` command line: `demo`, `serve`, `report`, `eval`, `train`, `replay`, `calibrate`.

With `--json`, stdout carries exactly one JSON object; progress and logs go to stderr.
Each command's body lives in its own module, which adds its subparser (`register`).
A `ModelRouteError` (bad config, bad workload, empty log...) ends the command with one
line on stderr and exit code 2. LiteLLM is told to use its bundled price map
(`LITELLM_LOCAL_MODEL_COST_MAP=True`) unless the variable is already set, so no command
fetches prices from the network; set it to `False` to keep LiteLLM's online lookup.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from modelroute import cli_offline
from modelroute.demo import command as demo_command
from modelroute.errors import ModelRouteError
from modelroute.evaluation import command as eval_command
from modelroute.report import command as report_command


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the local provider server in the foreground."""
    from modelroute.provider_server.__main__ import main as serve_main

    argv = ["--host", args.host, "--port", str(args.port)]
    if args.script:
        argv += ["--script", args.script]
    return serve_main(argv)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `modelroute`."""
    parser = argparse.ArgumentParser(prog="modelroute", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo_command.register(sub)
    serve = sub.add_parser("serve", help="run the local OpenAI-compatible provider server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--script", default=None, help="a model script YAML/JSON file")
    serve.set_defaults(func=cmd_serve)
    report_command.register(sub)
    eval_command.register(sub)
    cli_offline.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `modelroute` command: the command's exit code, 2 on a
    `ModelRouteError` (printed as one line on stderr)."""
    # before any command imports LiteLLM: the bundled price map, no network fetch
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ModelRouteError as exc:
        print(f"modelroute {args.command}: {one_line(exc)}", file=sys.stderr)
        return 2
    return code


def one_line(exc: BaseException) -> str:
    """The error's message on one line: a multi-problem config error's header, then its
    problems joined with `; `."""
    head, *rest = [part.strip() for part in str(exc).splitlines() if part.strip()] or [""]
    return " ".join([head, "; ".join(rest)]) if rest else head


if __name__ == "__main__":
    raise SystemExit(main())
