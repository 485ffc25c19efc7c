"""The `modelroute` command line: `demo`, `serve`, `report`, `eval`, `train`, `replay`, `calibrate`.

With `--json`, stdout carries exactly one JSON object; progress and logs go to stderr.
Each command's body lives in its own module, which adds its subparser (`register`).
Bad input ends every command with one line on stderr and exit code 2
(`modelroute <command>: error: ...`, see `modelroute.cli_errors`): an argument error (plus
`(see modelroute <command> --help)`), a `ModelRouteError` (bad config, bad workload, empty
log...), an OS error (a missing or unreadable file) or a bad provider-server script.
LiteLLM is told to use its bundled price map (`LITELLM_LOCAL_MODEL_COST_MAP=True`) unless
the variable is already set, so no command fetches prices from the network; set it to
`False` to keep LiteLLM's online lookup.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import cast

from modelroute import cli_offline, cli_serve
from modelroute.cli_errors import (
    EXIT_BAD_INPUT,
    OneLineParser,
    error_line,
    one_line,
    os_problem,
)
from modelroute.demo import command as demo_command
from modelroute.errors import ModelRouteError
from modelroute.evaluation import command as eval_command
from modelroute.report import command as report_command

__all__ = ["build_parser", "main", "one_line"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `modelroute` (argument errors: one line, exit code 2)."""
    parser = OneLineParser(prog="modelroute", description=__doc__)
    # the subparsers are OneLineParsers too (argparse makes them of the parent's class);
    # the commands' `register` functions only need the base class
    sub = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", required=True),
    )
    demo_command.register(sub)
    cli_serve.register(sub)
    report_command.register(sub)
    eval_command.register(sub)
    cli_offline.register(sub)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    """The errors that are bad input, not bugs: ours, the OS's (a missing or unreadable
    file) and, once the provider server was loaded (it needs aiohttp), a bad script."""
    scripts = sys.modules.get("modelroute.provider_server.scripts")
    script_error: tuple[type[BaseException], ...] = (
        (scripts.ScriptError,) if scripts is not None else ()
    )
    return (ModelRouteError, OSError, *script_error)


def _problem(exc: BaseException) -> str:
    return os_problem(exc) if isinstance(exc, OSError) else one_line(exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `modelroute` command: the command's exit code; 2 with one line
    on stderr (`modelroute <command>: error: ...`) for bad input. Argument errors raise
    `SystemExit(2)` after printing their line, as argparse does; `--help` exits 0."""
    # before any command imports LiteLLM: the bundled price map, no network fetch
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # named by the subcommand they were given to, not by `modelroute`
        _subparser(parser, args.command).error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        code: int = args.func(args)
    # evaluated when an error arrives, so a script error counts once the server was imported
    except _user_errors() as exc:
        print(error_line(f"modelroute {args.command}", _problem(exc)), file=sys.stderr)
        return EXIT_BAD_INPUT
    return code


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[command]
            return found
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
