"""A real redis-server for tests: started on a free 127.0.0.1 port, stopped by its PID.

Import the fixture into a test module: `from redis_server import redis_server`.
redis-server must be installed (`.ci/run` installs it with apt); nothing is skipped.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class RedisServer:
    """A running redis-server process."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        """redis://127.0.0.1:PORT/0"""
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        """Terminate the server by PID and wait for it."""
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A 127.0.0.1 port that refuses every connection during the test: bound, so nothing
    else can take it (as could happen to a port merely found free), but not listening."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        yield port


def start_redis(timeout_s: float = 30.0, tries: int = 5) -> RedisServer:
    """Start redis-server on a free loopback port, without persistence; wait until it answers.

    A port found free can be taken (e.g. as another connection's source port) before
    redis-server binds it: then redis-server exits at once and another port is tried.
    """
    for _ in range(tries - 1):
        try:
            return _start_redis(timeout_s)
        except _ExitedEarly:
            continue
    return _start_redis(timeout_s)


class _ExitedEarly(RuntimeError):
    pass


def _start_redis(timeout_s: float) -> RedisServer:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    args = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = RedisServer(proc, port)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise _ExitedEarly(f"redis-server exited with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return server
        except OSError:
            time.sleep(0.02)
    server.stop()
    raise RuntimeError(f"redis-server did not answer on port {port} within {timeout_s}s")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the test session (tests use their own key prefixes)."""
    server = start_redis()
    try:
        yield server
    finally:
        server.stop()
