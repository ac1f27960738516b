"""Throwaway MongoDB-protocol server for the test suite (SecantusDB, pip ``SecantusDB``).

SecantusDB is a pure-Python server on WiredTiger that runs *inside the test process*
(an accept thread plus one thread per connection); no subprocess is started.
``start_mongo()`` serves an in-memory database on 127.0.0.1 at a free TCP port, advertised as
the single-node replica set ``secantus``, so multi-document transactions and change streams
work. ``running_mongo()`` wraps it in a context manager. ``restart()`` serves again on the
same port, with empty storage (start-up and restart: process.py).
"""

from __future__ import annotations

import contextlib
import socket

from secantus import SecantusDBServer

from .process import ThrowawayServer, start_on_free_port

REPLICA_SET = "secantus"


def _new_server(host: str, port: int) -> SecantusDBServer:
    server = SecantusDBServer(
        host=host,
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


class MongoServer(ThrowawayServer):
    name = "SecantusDB"
    replica_set = REPLICA_SET

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self._server: SecantusDBServer | None = None

    @property
    def uri(self) -> str:
        """Connection string for pymongo (``AsyncMongoClient(server.uri)``)."""
        return f"mongodb://{self.host}:{self.port}/"

    def url(self, database: str) -> str:
        return f"mongodb://{self.host}:{self.port}/{database}"

    @property
    def is_running(self) -> bool:
        return self._server is not None

    def serve(self) -> str | None:
        try:
            self._server = _new_server(self.host, self.port)
        except Exception as exc:
            return repr(exc)
        self.port = int(self._server.address[1])  # the one the OS picked for port 0
        return None

    def stop(self) -> None:
        """Stop serving (open client connections are closed; all data is lost)."""
        server, self._server = self._server, None
        if server is not None:
            _shutdown(server)


def start_mongo() -> MongoServer:
    """Start a fresh in-memory server; raise RuntimeError on failure."""
    # The OS picks the port: no race with other processes.
    return start_on_free_port(MongoServer, pick_port=lambda: 0)


def running_mongo() -> contextlib.closing[MongoServer]:
    return contextlib.closing(start_mongo())
