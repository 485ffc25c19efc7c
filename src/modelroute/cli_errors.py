"""How every `modelroute` command reports bad input: one line on stderr, exit code 2.

The line reads `modelroute <command>: error: <what is wrong, naming the file or option>`;
an argument error adds `(see modelroute <command> --help)`. `--help` itself is unchanged.
Only the standard library is imported here, so the CLI starts fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import NoReturn

from modelroute.errors import ModelRouteError

EXIT_BAD_INPUT = 2
"""The exit code of every command that refuses its input (argparse's own code for usage errors)."""


class UsageError(ModelRouteError, ValueError):
    """Bad input to a command: a missing file, an option that cannot work (a port in use).

    The message names the file or option, e.g. `--script nope.yaml: no such file or directory`.
    """


class OneLineParser(argparse.ArgumentParser):
    """An `ArgumentParser` whose errors are one line on stderr and exit code 2:
    `<prog>: error: <message> (see <prog> --help)`. Subparsers made with
    `add_subparsers().add_parser` are of this class too. Raises `SystemExit(2)` on an error,
    as argparse does."""

    def error(self, message: str) -> NoReturn:
        """Print the one-line error and exit with code 2."""
        self.exit(EXIT_BAD_INPUT, f"{error_line(self.prog, message)} (see {self.prog} --help)\n")


def error_line(prog: str, problem: str) -> str:
    """`<prog>: error: <problem>`, the problem's lines and runs of blanks joined into one line."""
    return f"{prog}: error: {' '.join(problem.split())}"


def one_line(exc: BaseException) -> str:
    """The error's message on one line: a multi-problem config error's header, then its
    problems joined with `; `."""
    head, *rest = [part.strip() for part in str(exc).splitlines() if part.strip()] or [""]
    return " ".join([head, "; ".join(rest)]) if rest else head


def os_problem(exc: OSError) -> str:
    """An OS error as `<file>: <reason>` in lower case, e.g. `nope.yaml: no such file or
    directory` (the plain message when the error names no file)."""
    if exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror[0].lower()}{exc.strerror[1:]}"
    return exc.strerror or str(exc)


def whole_number_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse `type`: a whole number >= `minimum` (e.g. `--folds`, `--concurrency`).
    Raises `argparse.ArgumentTypeError` naming the problem."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {text}")
        return value

    return parse
