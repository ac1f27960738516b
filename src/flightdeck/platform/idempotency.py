"""`Idempotency-Key` for POST requests (bookings, payments), kept in the database.

The first request with a key claims it by inserting its row in the request's own transaction;
the unique (scope, key) index makes a concurrent request with the same key wait for that
transaction (PostgreSQL) or run after it (SQLite's one writer). The response is saved in the
same transaction, so once the first request has committed, the same key and body replay its
response; if it failed, nothing is kept and the key can be used again. The same key with a
different body is a 409. Keys expire after 24 h.

Work done in one statement in autocommit (a hold: bookings/holds.py) may claim the key in
that statement instead, with its response (`produce_claiming`, `KeyClaim`): a plain INSERT of
the finished row, so a key already there (live, expired or being claimed) meets the unique
index, which aborts the whole statement; nothing is written and the request then takes the
way above, which replays, refuses or renews.

Responses are stored encrypted and request bodies only as keyed digests (HMAC with a server key,
platform/security/digests.py): both may carry personal data, such as birth dates.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Annotated, Any, cast

from fastapi import Header
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import (
    CursorResult,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    delete,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from flightdeck.platform.clock import utcnow
from flightdeck.platform.db import Base, IdMixin, UTCDateTime, new_id, unique_violation
from flightdeck.platform.errors import Conflict
from flightdeck.platform.security.digests import digest_keys
from flightdeck.platform.security.encryption import EncryptedString

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX_LENGTH = 255
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_LIFETIME = timedelta(hours=24)

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_KEY_HEADER,
        min_length=1,
        max_length=IDEMPOTENCY_KEY_MAX_LENGTH,
        description="Repeat the request safely: the same key and body replay the first "
        "response (header `Idempotent-Replayed: true`) and never act twice; the same key with "
        "a different body is a 409",
    ),
]


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was already used with a different request body"


class IdempotencyRequestInProgress(Conflict):
    code = "idempotency_request_in_progress"
    message = "A request with this Idempotency-Key is still being processed; retry shortly"


class IdempotencyKey(IdMixin, Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("scope", "key"),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )

    # What the key is unique within: the caller and the operation, e.g. "<user id>:bookings".
    # In the primary key too: keys are distributed by scope (flightdeck/data_layout.py).
    scope: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(255))
    # A keyed digest of the request body, `h1:<kid>:<hex>` (security/digests.py).
    request_hash: Mapped[str] = mapped_column(String(100))
    response_status: Mapped[int | None] = mapped_column(Integer, default=None)
    response_body: Mapped[str | None] = mapped_column(EncryptedString(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


IDEMPOTENCY_KEYS: Table = IdempotencyKey.__table__  # type: ignore[assignment]
_KEY_UNIQUE = next(
    str(c.name) for c in IDEMPOTENCY_KEYS.constraints if isinstance(c, UniqueConstraint)
)


class KeyClaimed(Exception):
    """The key has a row already (live, expired or being claimed): the statement that was to
    claim it wrote nothing."""


def key_claimed(error: Exception) -> bool:
    """Whether a driver's error is the keys' unique index refusing a claim's INSERT."""
    return unique_violation(error, _KEY_UNIQUE)


@dataclass(frozen=True)
class KeyClaim:
    """A key to claim in the statement that does the request's work, its row written with the
    response (`row`) by a plain INSERT in that statement (`IDEMPOTENCY_KEYS`). The statement
    raises `KeyClaimed` when the key's unique index refuses it (`key_claimed`)."""

    scope: str
    key: str
    fingerprint: bytes

    def row(self, status_code: int | None = None, body: Any = None) -> dict[str, Any]:
        """The key's row, with the response if given (none: claimed, not answered yet)."""
        now = utcnow()
        return {
            "id": new_id(),
            "scope": self.scope,
            "key": self.key,
            "request_hash": digest_keys().digest(self.fingerprint),
            "response_status": status_code,
            "response_body": None if body is None else _json_text(body),
            "created_at": now,
            "expires_at": now + KEY_LIFETIME,
        }


@dataclass(frozen=True)
class IdempotentResponse:
    status_code: int
    body: Any  # a pydantic model, or JSON-able values
    replayed: bool

    @property
    def headers(self) -> dict[str, str]:
        return {REPLAYED_HEADER: "true"} if self.replayed else {}

    def response(self) -> Response:
        """The HTTP response. A model is serialised by pydantic in one pass, not to a dict
        first and then by `json.dumps`: the same bytes, a booking 13.9 -> 9.3 us."""
        if isinstance(self.body, BaseModel):
            return Response(
                self.body.model_dump_json(),
                status_code=self.status_code,
                headers=self.headers,
                media_type="application/json",
            )
        return JSONResponse(self.body, status_code=self.status_code, headers=self.headers)


def _json_text(body: Any) -> str:
    return body.model_dump_json() if isinstance(body, BaseModel) else json.dumps(body)


def request_fingerprint(body: Any) -> bytes:
    """The body as canonical JSON (sorted keys, no spaces): what the stored digest is of."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


async def run_idempotent(
    session: AsyncSession,
    *,
    scope: str,
    key: str | None,
    fingerprint: bytes,
    produce: Callable[[], Awaitable[tuple[int, Any]]],
    produce_claiming: Callable[[KeyClaim], Awaitable[tuple[int, Any] | None]] | None = None,
) -> IdempotentResponse:
    """Runs `produce` (returning status and body: a pydantic model or JSON-able values) once
    per (scope, key): a repeat with the same fingerprint replays the stored response; a
    different fingerprint is 409 `idempotency_key_reused`; a first request not finished yet
    is 409 `idempotency_request_in_progress`. No key: just runs `produce`.

    `produce_claiming`, tried first when there is a key: the work done with the key's claim
    and response written in its one statement, or None when it wrote nothing (it did not
    apply, failed, or met the key's row): then the key is claimed and `produce` runs."""
    if key is None:
        status_code, body = await produce()
        return IdempotentResponse(status_code, body, replayed=False)
    claim = KeyClaim(scope, key, fingerprint)
    if produce_claiming is not None and (done := await produce_claiming(claim)) is not None:
        return IdempotentResponse(*done, replayed=False)
    if not await _claim(session, claim):
        return await _replay(session, scope, key, fingerprint)
    status_code, body = await produce()
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
        .values(response_status=status_code, response_body=_json_text(body))
    )
    return IdempotentResponse(status_code, body, replayed=False)


async def release_key(session: AsyncSession, *, scope: str, key: str) -> None:
    """Forgets a claimed key, for a request that commits part of its work and then fails
    (payments): the same key can then be used again."""
    await session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
    )


async def purge_expired_keys(session: AsyncSession, now: datetime | None = None) -> int:
    """Deletes keys past their lifetime; returns how many."""
    result = await session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.expires_at <= (now or utcnow()))
    )
    return cast(CursorResult[Any], result).rowcount


@cache
def _claim_statement(dialect: str) -> Any:
    """INSERT of a key's row that replaces an expired row of the same key and leaves a live
    one alone (rowcount 0): one statement, where a DELETE of the expired row and an INSERT
    were two. A concurrent claim of the same key waits for the first one's transaction."""
    table = IDEMPOTENCY_KEYS
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    renewed = ("request_hash", "response_status", "response_body", "created_at", "expires_at")
    return statement.on_conflict_do_update(
        index_elements=["scope", "key"],
        set_={name: statement.excluded[name] for name in renewed},
        where=table.c.expires_at <= statement.excluded.created_at,
    )


async def _claim(session: AsyncSession, claim: KeyClaim) -> bool:
    """Inserts the key's row unless it exists (an expired one is replaced); True if inserted."""
    statement = _claim_statement(session.get_bind().dialect.name)
    result = cast(CursorResult[Any], await session.execute(statement, claim.row()))
    return result.rowcount == 1


async def _replay(
    session: AsyncSession, scope: str, key: str, fingerprint: bytes
) -> IdempotentResponse:
    stored = await session.scalar(
        select(IdempotencyKey)
        .where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
        .execution_options(populate_existing=True)
    )
    if stored is not None and not digest_keys().matches(stored.request_hash, fingerprint):
        raise IdempotencyKeyReused()
    if stored is None or stored.response_status is None or stored.response_body is None:
        # Claimed by a transaction that has not committed yet (or just rolled back).
        raise IdempotencyRequestInProgress()
    return IdempotentResponse(
        stored.response_status, json.loads(stored.response_body), replayed=True
    )
