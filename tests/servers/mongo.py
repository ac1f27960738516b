"""Throwaway MongoDB-protocol server for the test suite (SecantusDB, pip ``SecantusDB``).

SecantusDB is a pure-Python server on WiredTiger that runs *inside the test process*
(an accept thread plus one thread per connection); no subprocess is started.
``start_mongo()`` serves an in-memory database on 127.0.0.1 at a free TCP port, advertised as
the single-node replica set ``secantus``, so multi-document transactions and change streams
work. ``running_mongo()`` wraps it in a context manager. ``restart()`` serves again on the
same port, with empty storage.
"""

from __future__ import annotations

import atexit
import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field

from secantus import SecantusDBServer

HOST = "127.0.0.1"
REPLICA_SET = "secantus"


def _new_server(port: int) -> SecantusDBServer:
    server = SecantusDBServer(
        host=HOST,
        port=port,
        storage_path=":memory:",  # WiredTiger in_memory: no files at all
        replica_set_name=REPLICA_SET,
        cache_size="512M",  # also the cap on the data held: in memory, it all lives in cache
        ttl_sweep_seconds=1.0,  # TTL indexes expire documents within ~1 s (mongod: 60 s)
    )
    server.start()
    return server


def _shutdown(server: SecantusDBServer) -> None:
    # SecantusDBServer.stop() closes the listening socket, but on Linux that does not wake
    # the thread blocked in accept(), so stop() would wait its 2 s join timeout.
    # shutdown() does wake it (accept raises EINVAL and the thread returns).
    listener = getattr(server, "_socket", None)
    if listener is not None:
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
    server.stop()


@dataclass
class MongoServer:
    host: str
    port: int
    replica_set: str
    _server: SecantusDBServer | None = field(repr=False, default=None)
    _closed: bool = field(repr=False, default=False)

    @property
    def uri(self) -> str:
        """Connection string for pymongo (``AsyncMongoClient(server.uri)``)."""
        return f"mongodb://{self.host}:{self.port}/"

    def url(self, database: str) -> str:
        return f"mongodb://{self.host}:{self.port}/{database}"

    @property
    def is_running(self) -> bool:
        return self._server is not None

    def stop(self) -> None:
        """Stop serving (open client connections are closed; all data is lost)."""
        server, self._server = self._server, None
        if server is not None:
            _shutdown(server)

    def restart(self) -> None:
        """Stop (if running) and serve again on the same port, with empty storage."""
        if self._closed:
            raise RuntimeError("the server was closed")
        self.stop()
        try:
            self._server = _new_server(self.port)
        except OSError as exc:
            raise RuntimeError(f"SecantusDB failed to restart on port {self.port}: {exc}") from exc

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self.stop()


def start_mongo() -> MongoServer:
    """Start a fresh in-memory server; raise RuntimeError on failure."""
    try:
        server = _new_server(0)  # the OS picks the port: no race with other processes
    except Exception as exc:
        raise RuntimeError(f"SecantusDB failed to start: {exc!r}") from exc
    host, port = server.address
    mongo = MongoServer(host, port, REPLICA_SET, server)
    atexit.register(mongo.close)  # safety net: close WiredTiger before the interpreter exits
    return mongo


@contextlib.contextmanager
def running_mongo() -> Iterator[MongoServer]:
    server = start_mongo()
    try:
        yield server
    finally:
        server.close()
