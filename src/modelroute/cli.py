"""The `modelroute` command line: `demo`, `serve`, `report`, `eval`, `train`, `replay`, `calibrate`.

With `--json`, stdout carries exactly one JSON object; progress and logs go to stderr.
Each command's body lives in its own module, which adds its subparser (`register`).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from modelroute import cli_offline
from modelroute.demo import command as demo_command
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
    """Entry point of the `modelroute` command."""
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
