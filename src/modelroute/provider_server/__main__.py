"""Command line: `python -m modelroute.provider_server --script FILE --host 127.0.0.1 --port N`.

Prints the base URL (e.g. `http://127.0.0.1:8123/v1`) on stdout once listening, logs each request
to stderr, and runs until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from modelroute.provider_server.runner import ProviderServer
from modelroute.provider_server.scripts import ScriptError, default_scripts, load_scripts


def main(argv: list[str] | None = None) -> int:
    """Run the server until interrupted; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m modelroute.provider_server",
        description="Local OpenAI-compatible provider server with fault injection.",
    )
    parser.add_argument(
        "--script", help="YAML or JSON script file (default: healthy m-a, m-b, m-c)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default 0: a free one)")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        scripts = load_scripts(args.script) if args.script else default_scripts()
    except (OSError, ScriptError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(ProviderServer(scripts, host=args.host, port=args.port)))
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve(server: ProviderServer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    try:
        print(server.base_url, flush=True)
        await stop.wait()
    finally:
        await server.stop()


if __name__ == "__main__":
    sys.exit(main())
