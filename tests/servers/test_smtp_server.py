"""End-to-end check of the capturing SMTP helper (real aiosmtpd server, real aiosmtplib)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from email.message import EmailMessage

import aiosmtplib
import pytest

from .process import port_accepts
from .smtp import SmtpServer, running_smtp

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    started = time.perf_counter()
    with running_smtp() as server:
        print(f"smtp start-up: {time.perf_counter() - started:.2f}s")
        yield server
    assert not port_accepts(server.host, server.port)
    server.stop()  # idempotent


@pytest.fixture(autouse=True)
def _empty_mailbox(smtp: SmtpServer) -> None:
    smtp.clear()


def _email(to: str, subject: str, body: str, bcc: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "FlightDeck <no-reply@flightdeck.example>"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    if bcc:
        message["Bcc"] = bcc  # aiosmtplib sends to it and strips the header
    return message


async def test_send_and_read_back(smtp: SmtpServer) -> None:
    body = "Your flight FD100 to Zürich is confirmed.\nSeat 12A."
    await aiosmtplib.send(
        _email("Ada <ada@example.com>", "Buchung bestätigt: FD100 nach Zürich", body),
        hostname=smtp.host,
        port=smtp.port,
        timeout=5,
    )
    [message] = smtp.messages_to("ADA@example.com")
    assert message["Subject"] == "Buchung bestätigt: FD100 nach Zürich"
    assert message["To"] == "Ada <ada@example.com>"
    content = message.get_body(("plain",))
    assert content is not None
    assert content.get_content().strip() == body
    assert smtp.logins == []


async def test_login_bcc_and_wait_for(smtp: SmtpServer) -> None:
    async def send_later() -> None:  # as an app's background task on the same loop would
        await asyncio.sleep(0.1)
        await aiosmtplib.send(
            _email("bob@example.com", "Gate change", "Now gate B7.", bcc="ops@example.com"),
            hostname=smtp.host,
            port=smtp.port,
            username="mailer",
            password="secret",  # any credentials are accepted, over plain SMTP
            timeout=5,
        )

    task = asyncio.create_task(send_later())
    message = await smtp.wait_for(lambda m: m["Subject"] == "Gate change", timeout=5)
    await task
    assert smtp.logins == ["mailer"]
    assert "Bcc" not in message
    assert smtp.messages_to("ops@example.com") == [message]
    assert smtp.deliveries[0].rcpt_tos == ("bob@example.com", "ops@example.com")
    assert smtp.deliveries[0].mail_from == "no-reply@flightdeck.example"
    with pytest.raises(TimeoutError):
        await smtp.wait_for(lambda m: m["Subject"] == "never sent", timeout=0.2)


async def test_wait_for_blocking_from_another_thread(smtp: SmtpServer) -> None:
    waiter = asyncio.to_thread(
        smtp.wait_for_blocking, lambda m: m["To"] == "cy@example.com", timeout=5
    )
    message, _ = await asyncio.gather(
        waiter,
        aiosmtplib.send(
            _email("cy@example.com", "Threads", "hello"),
            hostname=smtp.host,
            port=smtp.port,
            timeout=5,
        ),
    )
    assert message["Subject"] == "Threads"
    smtp.clear()
    assert smtp.messages == []
