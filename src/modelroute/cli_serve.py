"""`modelroute serve`: the local provider server in the foreground.

Its options are shared with `python -m modelroute.provider_server` (`add_serve_arguments`);
this module imports only the standard library, so building the CLI's parser stays cheap
(the server and aiohttp load when the command runs).
"""

from __future__ import annotations

import argparse

DEFAULT_PORT = 8765
"""`modelroute serve`'s default port (`python -m modelroute.provider_server` picks a free one)."""
MAX_PORT = 65535


def port_number(text: str) -> int:
    """`--port`: a TCP port in [0, 65535] (0 picks a free one). Raises
    `argparse.ArgumentTypeError`."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"must be in [0, {MAX_PORT}], got {text}")
    return value


def add_serve_arguments(parser: argparse.ArgumentParser, *, default_port: int) -> None:
    """The server's options: `--script FILE`, `--host`, `--port`, `--quiet`."""
    parser.add_argument(
        "--script",
        default=None,
        metavar="FILE",
        help="YAML or JSON model script: answers, rules and faults per model "
        "(default: healthy m-a, m-b, m-c; format in docs/provider_server.md)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=port_number,
        default=default_port,
        help=f"TCP port (default {default_port}; 0: a free one, printed in the base URL)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log each request")


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; returns 0. Raises `UsageError` for a bad `--script`,
    a port in use or an address that cannot be bound (`modelroute.cli` prints one line)."""
    from modelroute.provider_server.__main__ import serve

    return serve(args.script, args.host, args.port, quiet=args.quiet)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `serve` subcommand."""
    parser = sub.add_parser(
        "serve",
        help="run the local OpenAI-compatible provider server",
        description="Serve scripted models with fault injection on an OpenAI-compatible API: "
        "prints the base URL, runs until Ctrl-C. Script format and faults: "
        "docs/provider_server.md.",
    )
    add_serve_arguments(parser, default_port=DEFAULT_PORT)
    parser.set_defaults(func=run)
