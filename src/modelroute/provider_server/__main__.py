"""Command line: `python -m modelroute.provider_server --script FILE --host 127.0.0.1 --port N`
(also `modelroute serve`, which shares these options and this code).

Prints the base URL (e.g. `http://127.0.0.1:8123/v1`) on stdout once listening, logs each request
to stderr, and runs until SIGINT or SIGTERM. Bad input (a script file that is missing or invalid,
a port in use, an address that cannot be bound) ends with one line on stderr and exit code 2.
The script file format and every fault: `docs/provider_server.md`.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import sys

from modelroute.cli_errors import (
    EXIT_BAD_INPUT,
    OneLineParser,
    UsageError,
    error_line,
    os_problem,
)
from modelroute.cli_serve import add_serve_arguments
from modelroute.provider_server.runner import ProviderServer
from modelroute.provider_server.scripts import (
    ModelScript,
    ScriptError,
    default_scripts,
    load_scripts,
)

PROG = "python -m modelroute.provider_server"


def read_scripts(path: str | None) -> dict[str, ModelScript]:
    """The model scripts of `--script path` (the default models when None).

    Raises `UsageError` naming `--script` and the file: missing or unreadable, not UTF-8,
    not valid YAML/JSON, or not a valid script (the message gives the key's path)."""
    if path is None:
        return default_scripts()
    try:
        return load_scripts(path)
    except OSError as exc:  # its `filename` is the path
        raise UsageError(f"--script {os_problem(exc)}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--script {path}: not UTF-8 text") from None
    except ScriptError as exc:  # its message starts with the file's name
        raise UsageError(f"--script {exc}") from None


def serve(script: str | None, host: str, port: int, *, quiet: bool = False) -> int:
    """Serve `script`'s models on `host:port` until SIGINT or SIGTERM; returns 0.

    Raises `UsageError` for a bad script file (see `read_scripts`), a port already in use,
    or an address that cannot be bound."""
    scripts = read_scripts(script)
    asyncio.run(_serve(ProviderServer(scripts, host=host, port=port), port, quiet))
    return 0


async def _start(server: ProviderServer, port: int) -> None:
    """Start listening on `port`; raises `UsageError` when the address cannot be bound."""
    host = server.host
    try:
        await server.start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(
                f"--port {port}: port {port} on {host} is already in use "
                "(pick another, or --port 0 for a free one)"
            ) from None
        reason = exc.strerror or str(exc)
        raise UsageError(f"--host {host} --port {port}: cannot listen there: {reason}") from None


async def _serve(server: ProviderServer, port: int, quiet: bool) -> None:
    await _start(server, port)
    logging.basicConfig(  # once listening: a refused start leaves logging untouched
        stream=sys.stderr,
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        print(server.base_url, flush=True)
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the server until interrupted; returns the process exit code (2 with one line
    on stderr for bad input; argument errors raise `SystemExit(2)` the same way)."""
    parser = OneLineParser(
        prog=PROG, description="Local OpenAI-compatible provider server with fault injection."
    )
    add_serve_arguments(parser, default_port=0)
    args = parser.parse_args(argv)
    try:
        return serve(args.script, args.host, args.port, quiet=args.quiet)
    except UsageError as exc:
        print(error_line(PROG, str(exc)), file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
