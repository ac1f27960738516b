"""Card numbers and CVCs never reach the database or the logs."""

from __future__ import annotations

import logging
import re
from datetime import date, time

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.model_registry import Base
from flightdeck.payments.gateways.sandbox import SandboxGateway
from tests.conftest import TestUser
from tests.payments.factories import (
    AMEX_OK,
    DECLINED,
    INSUFFICIENT_FUNDS,
    THREE_D_SECURE,
    TIMES_OUT,
    VISA_OK,
    card,
    held_booking,
    pay,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")
# CVCs with a leading zero: no number the database or a log prints (a sequence, a count) can
# look like one.
CVCS = {
    VISA_OK: "073",
    DECLINED: "084",
    INSUFFICIENT_FUNDS: "095",
    THREE_D_SECURE: "086",
    TIMES_OUT: "097",
    AMEX_OK: "0648",
    "4242424242424241": "018",
}


async def database_dump(db: AsyncSession) -> str:
    """Every row of every table, as text (instants in ISO form: a datetime's repr writes its
    microseconds as a number of their own, which a CVC's digits may equal)."""
    try:
        parts = []
        for table in Base.metadata.sorted_tables:
            for row in (await db.execute(select(table))).all():
                parts.append(repr(tuple(_text(value) for value in row)))
        return "\n".join(parts)
    finally:
        await db.rollback()


def _text(value: object) -> object:
    return value.isoformat() if isinstance(value, date | time) else value


async def test_test_card_numbers_and_cvcs_are_neither_stored_nor_logged(
    client: httpx.AsyncClient,
    db: AsyncSession,
    agent: TestUser,
    passenger: TestUser,
    sandbox: SandboxGateway,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    outcomes = []
    for index, (number, cvc) in enumerate(CVCS.items()):
        booking = await held_booking(
            client, agent.headers, passenger.headers, flight_number=f"FD{300 + index}"
        )
        headers = {**passenger.headers, "Idempotency-Key": f"key-{index}"}
        response = await pay(client, headers, booking["id"], card(number, cvc=cvc))
        outcomes.append(response.json().get("status") or response.json()["error"]["code"])
        bad = await pay(client, passenger.headers, booking["id"], card(number[:-1] + "x", cvc=cvc))
        assert bad.status_code in (409, 422)
    # TIMES_OUT: charged, but the answer was lost (202 processing).
    assert set(outcomes) >= {"succeeded", "failed", "requires_action", "processing"}
    dump = await database_dump(db)
    assert "4242" in dump  # the last four digits are kept, so the dump is the real one
    logs = caplog.text + "\n".join(
        f"{record.getMessage()} {record.args!r} {record.exc_text}" for record in caplog.records
    )
    for number, cvc in CVCS.items():
        for haystack in (dump, logs):
            assert number not in haystack
            assert number[:6] + number[-4:] not in haystack  # not even BIN + last four
        # A CVC as a value of its own. The same digits also occur inside ids and hashes, as a
        # group of a UUID (…-6482-…: a full run logs thousands), as the fraction of a decimal
        # or a millisecond time stamp (0.842, 12:00:01.842Z), and after a colon (a port).
        alone = re.compile(rf"(?<![0-9A-Za-z.:-]){cvc}(?![0-9A-Za-z:-])")
        for haystack in (dump, logs):
            found = alone.search(haystack)
            assert not found, haystack[max(0, found.start() - 300) : found.end() + 100]
