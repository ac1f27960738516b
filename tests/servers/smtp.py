"""Throwaway SMTP server for the test suite (``aiosmtpd``), capturing every message it gets.

``start_smtp()`` runs aiosmtpd's ``Controller`` (its own event loop in a background thread)
on 127.0.0.1 at a free TCP port; ``running_smtp()`` wraps it in a context manager
(start-up and stop: process.py).
Plain SMTP only (no TLS, no STARTTLS). AUTH PLAIN/LOGIN is offered and any credentials
are accepted (recorded in ``logins``), so the app may log in or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from .process import ThrowawayServer, start_on_free_port

Predicate = Callable[[EmailMessage], bool]


@dataclass(frozen=True)
class Delivery:
    mail_from: str
    rcpt_tos: tuple[str, ...]  # envelope recipients: To, Cc and Bcc alike
    message: EmailMessage


class _BoundController(Controller):
    """A Controller serving an already bound socket, so there is no race for the port."""

    def __init__(self, handler: Any, sock: socket.socket, **kwargs: Any) -> None:
        host, port = sock.getsockname()[:2]
        super().__init__(handler, hostname=host, port=port, **kwargs)
        self._listen_sock = sock

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._listen_sock)


class SmtpServer(ThrowawayServer):
    name = "SMTP server"

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.logins: list[str] = []
        self._deliveries: list[Delivery] = []
        self._changed = threading.Condition()
        self._controller: Controller | None = None

    # aiosmtpd hooks, called on the server's thread
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        data = raw if isinstance(raw, bytes) else raw.encode()
        data = data.replace(b"\r\n", b"\n")  # bodies read back with "\n", as written
        message = BytesParser(policy=policy.default).parsebytes(data)
        delivery = Delivery(envelope.mail_from or "", tuple(envelope.rcpt_tos), message)
        with self._changed:
            self._deliveries.append(delivery)
            self._changed.notify_all()
        return "250 Message accepted for delivery"

    def _authenticate(self, *args: Any) -> AuthResult:
        auth_data = args[-1]  # (server, session, envelope, mechanism, auth_data)
        if isinstance(auth_data, LoginPassword):
            with self._changed:
                self.logins.append(auth_data.login.decode(errors="replace"))
        return AuthResult(success=True)

    @property
    def deliveries(self) -> list[Delivery]:
        with self._changed:
            return list(self._deliveries)

    @property
    def messages(self) -> list[EmailMessage]:
        return [delivery.message for delivery in self.deliveries]

    def messages_to(self, address: str) -> list[EmailMessage]:
        """Messages whose envelope recipients include ``address`` (case-insensitive)."""
        wanted = address.strip().lower()
        return [d.message for d in self.deliveries if wanted in (r.lower() for r in d.rcpt_tos)]

    def _first(self, predicate: Predicate) -> EmailMessage | None:
        return next((m for m in self.messages if predicate(m)), None)

    async def wait_for(
        self,
        predicate: Predicate,
        timeout: float = 5.0,  # noqa: ASYNC109 - a plain timeout reads better in tests
    ) -> EmailMessage:
        """Await the first captured message matching ``predicate``; TimeoutError if none.

        Async so that the app's own background tasks on the same loop can send meanwhile.
        """
        deadline = time.monotonic() + timeout
        while (found := self._first(predicate)) is None:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no matching message within {timeout}s: {self.messages}")
            await asyncio.sleep(0.02)
        return found

    def wait_for_blocking(self, predicate: Predicate, timeout: float = 5.0) -> EmailMessage:
        """Like ``wait_for`` for sync code; blocks the calling thread (and its loop)."""
        deadline = time.monotonic() + timeout
        with self._changed:  # an RLock: _first may take it again
            while (found := self._first(predicate)) is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no matching message within {timeout}s: {self.messages}")
                self._changed.wait(remaining)
        return found

    def clear(self) -> None:
        with self._changed:
            self._deliveries.clear()
            self.logins.clear()

    @property
    def is_running(self) -> bool:
        return self._controller is not None

    def serve(self) -> str | None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            return repr(exc)
        self.port = int(sock.getsockname()[1])  # the one the OS picked for port 0
        controller = _BoundController(
            self,
            sock,
            server_hostname="flightdeck-test-smtp",
            enable_SMTPUTF8=True,
            authenticator=self._authenticate,
            auth_required=False,
            auth_require_tls=False,  # plain-text AUTH, as there is no TLS
        )
        try:
            controller.start()
        except Exception as exc:
            with contextlib.suppress(Exception):
                controller.stop(no_assert=True)
            sock.close()
            return repr(exc)
        self._controller = controller
        return None

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()


def start_smtp() -> SmtpServer:
    """Start a capturing SMTP server; raise RuntimeError on failure."""
    # Bound before aiosmtpd starts, on a port the OS picks: no race for the port.
    return start_on_free_port(SmtpServer, pick_port=lambda: 0)


def running_smtp() -> contextlib.closing[SmtpServer]:
    return contextlib.closing(start_smtp())
