"""The HTTP protocol `flightdeck serve` runs: uvicorn's httptools protocol, with a response's
head and body sent in one write.

uvicorn writes a response's status line and headers to the socket as soon as the app sends
`http.response.start`, then its body in a second write: two system calls, and on TCP two
segments the client wakes up for, where one would do. Measured with wrk against a FastAPI
hello-world on two cores: 8,860-9,740 req/s with the stock protocol, 11,910-12,540 with
this one (p99 6.5-9.2 → 4.6-5.0 ms), and the server's write calls per response 2.0 → 1.0.

`PairedWrites` holds a write (a head) and sends it with the next one (the body, or a
stream's first chunk) in one `writelines`. What it holds never waits past the loop's next
turn (`call_soon`): a head whose body is slow to come, a stream's lone chunk, a `100
Continue` leave then, in order; so the transport's buffer and flow control (pause and resume
writing) see every byte at most a turn later. Closing sends what is held first. A connection
upgraded to a WebSocket gets the bare transport: its frames go out as they are written.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# What `flightdeck serve` passes as uvicorn's `http` (and the suite's servers, as `--http`).
UVICORN_HTTP = "flightdeck.platform.http_protocol:HttpProtocol"


class PairedWrites:
    """A transport that sends a write together with the next one (at the loop's next turn at
    the latest); everything else is the transport's own."""

    __slots__ = ("_held", "_loop", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self.transport.writelines((held, data))
        else:
            self._held = bytes(data)
            self._loop.call_soon(self.flush)

    def writelines(self, chunks: Any) -> None:
        held, self._held = self._held, None
        self.transport.writelines(chunks if held is None else (held, *chunks))

    def flush(self) -> None:
        """Sends what is held, if anything (nothing once the transport is closing)."""
        held, self._held = self._held, None
        if held is not None and not self.transport.is_closing():
            self.transport.write(held)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def abort(self) -> None:
        self._held = None
        self.transport.abort()

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def pause_reading(self) -> None:
        self.transport.pause_reading()

    def resume_reading(self) -> None:
        self.transport.resume_reading()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.transport.get_extra_info(name, default)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through `PairedWrites`:
    `uvicorn.run(..., http=UVICORN_HTTP)`, `uvicorn --http <UVICORN_HTTP>`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        paired = PairedWrites(transport, asyncio.get_running_loop())
        super().connection_made(paired)  # type: ignore[arg-type]

    def handle_websocket_upgrade(self) -> None:
        paired = self.transport
        if isinstance(paired, PairedWrites):
            paired.flush()
            self.transport = paired.transport
        super().handle_websocket_upgrade()
