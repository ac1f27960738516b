"""Start-up, stop and restart shared by the throwaway servers (the suite's and the benches').

Every server runs on 127.0.0.1. ``start_on_free_port(make)`` builds one on a free port and
serves it until it is ready; if another process took the port meanwhile it tries a new one.
``stop()`` ends it, ``restart()`` brings it back on the SAME port, ``close()`` stops it for good
and removes its working directory (also registered at exit, as a safety net). Use
``contextlib.closing(start_x())`` for a ``with`` block.

``ServerProcess`` does this for a subprocess: its output appended to ``server.log`` in its
working directory, ready when ``answers()`` says so, stopped with ``stop_signal`` then killed
after ``stop_grace`` seconds, and killed by the kernel if this process dies (PDEATHSIG).
``ThrowawayServer`` is the bookkeeping alone, for a server that runs inside this process.
"""

from __future__ import annotations

import atexit
import shutil
import signal
import socket
import subprocess
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import IO, TypeVar

HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """A port nothing listens on now (another process may still take it before we bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_accepts(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether a TCP connection to host:port is accepted."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        return sock.connect_ex((host, port)) == 0


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "<no server log>"


def orphan_guard() -> list[str]:
    """Command prefix: the kernel kills the child if this process dies without cleanup."""
    setpriv = shutil.which("setpriv")
    # PDEATHSIG fires when the *thread* that started the child exits: main thread only.
    if setpriv and threading.current_thread() is threading.main_thread():
        return [setpriv, "--pdeathsig", "KILL", "--"]
    return []


class ThrowawayServer(ABC):
    """A server on a fixed port of ``host``: serve, stop, restart on the same port, close."""

    name = "server"  # for error messages
    # Lower-case text of a failure that means "the port is taken" (so: try again).
    port_taken_markers: tuple[str, ...] = ("address already in use",)

    def __init__(self, port: int, workdir: Path | None = None) -> None:
        self.host = HOST
        self.port = port
        self.workdir = workdir  # removed by close()
        self._closed = False

    @property
    @abstractmethod
    def is_running(self) -> bool: ...

    @abstractmethod
    def serve(self) -> str | None:
        """Start serving on ``port`` and wait until ready; None, or why not (then stopped)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop serving (idempotent); ``restart()`` may follow."""

    def port_was_taken(self, failure: str) -> bool:
        return any(marker in failure.lower() for marker in self.port_taken_markers)

    def restart(self, attempts: int = 25, pause: float = 0.2) -> None:
        """Stop (if running) and serve again on the same port; RuntimeError if it cannot."""
        if self._closed:
            raise RuntimeError(f"the {self.name} was closed")
        self.stop()
        failure: str | None = None
        for _attempt in range(attempts):  # the port can take a moment to be free again
            failure = self.serve()
            if failure is None:
                return
            if not self.port_was_taken(failure):
                break
            time.sleep(pause)
        raise RuntimeError(f"{self.name} failed to restart on port {self.port}:\n{failure}")

    def close(self) -> None:
        """Stop for good and delete the working directory."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self.stop()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


class ServerProcess(ThrowawayServer):
    """A server subprocess in ``workdir``; subclasses give its command and readiness probe."""

    log_name = "server.log"
    ready_timeout = 10.0
    stop_signal = signal.SIGTERM
    stop_grace = 5.0  # seconds between stop_signal and SIGKILL

    def __init__(self, port: int, workdir: Path, *, ready_timeout: float | None = None) -> None:
        super().__init__(port, workdir)
        self.workdir: Path = workdir
        if ready_timeout is not None:
            self.ready_timeout = ready_timeout
        self.log_path = workdir / self.log_name
        self.log_path.unlink(missing_ok=True)  # a new server, a new log; restarts append
        self.exit_code: int | None = None  # of the last process stopped
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @abstractmethod
    def command(self) -> list[str]:
        """The server's command line, listening on ``host:port``."""

    @abstractmethod
    def answers(self) -> bool:
        """Whether the server is ready (a real request, not only an accepted connection)."""

    def environment(self) -> dict[str, str] | None:
        """The server's environment variables; None: this process's own."""
        return None

    @property
    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The server process's id while it runs (a profiler attaches to it)."""
        return self._process.pid if self.is_running and self._process is not None else None

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines)

    def serve(self) -> str | None:
        self._log_file = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [*orphan_guard(), *self.command()],
            cwd=self.workdir,
            env=self.environment(),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self.stop()
                return self.log_tail()
            if self.answers():
                return None
            time.sleep(0.02)
        self.stop()
        return f"not ready after {self.ready_timeout}s\n{self.log_tail()}"

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.send_signal(self.stop_signal)
                try:
                    process.wait(timeout=self.stop_grace)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            self.exit_code = process.returncode
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


Server = TypeVar("Server", bound=ThrowawayServer)


def start_on_free_port(
    make: Callable[[int], Server], attempts: int = 3, pick_port: Callable[[], int] = free_port
) -> Server:
    """``make(port)`` a server and serve it; on a port taken meanwhile, again on a new port.

    ``pick_port=lambda: 0`` for a server that binds port 0 itself (no race) and then sets
    its ``port``. On failure the server is closed (its working directory removed) and
    RuntimeError says why.
    """
    for attempt in range(1, attempts + 1):
        server = make(pick_port())
        failure = server.serve()
        if failure is None:
            atexit.register(server.close)  # safety net if a caller forgets to close it
            return server
        if attempt == attempts or not server.port_was_taken(failure):
            server.close()
            raise RuntimeError(f"{server.name} failed to start:\n{failure}")
    raise ValueError(f"attempts must be at least 1, not {attempts}")
