"""Digests of personal data are keyed (platform/security/digests.py): an HMAC with a server
key, rotatable like the encryption keys, never a plain hash someone holding the database file
could recompute by trying every birth date."""

from __future__ import annotations

import hashlib
import os

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from tests.bookings.factories import booking_body, future_flight, traveller
from tests.conftest import TEST_PASSWORD, TestUser

from flightdeck.bookings.schemas import BookingCreate
from flightdeck.model_registry import Base
from flightdeck.platform.idempotency import IdempotencyKey, request_fingerprint
from flightdeck.platform.security.digests import (
    DigestKeys,
    derive_digest_key,
    digest_keys,
    load_digest_keys,
)
from flightdeck.platform.security.encryption import generate_key_spec, parse_keys
from flightdeck.platform.settings import Settings
from flightdeck.users.models import RefreshToken

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Every column that holds a digest, and why it is what it is. A new digest column fails the
# test below until it is added here: keyed, or exempt with a reason.
KEYED_DIGEST_COLUMNS = {("idempotency_keys", "request_hash")}
EXEMPT_DIGEST_COLUMNS = {
    ("refresh_tokens", "token_hash"): "SHA-256 of a 256-bit random token: no personal data, "
    "nothing to try, and looked up by equality",
    ("users", "password_hash"): "argon2id: salted and deliberately slow",
}
PLAIN_HASHES = ("md5", "sha1", "sha224", "sha256", "sha384", "sha512", "blake2b", "sha3_256")


def _digest_columns() -> set[tuple[str, str]]:
    return {
        (table.name, column.name)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if any(word in column.name for word in ("hash", "digest", "fingerprint"))
    }


def _plain_hashes(data: bytes) -> set[str]:
    return {hashlib.new(name, data).hexdigest() for name in PLAIN_HASHES}


async def test_every_digest_column_is_keyed_or_exempt_for_a_stated_reason() -> None:
    assert _digest_columns() == KEYED_DIGEST_COLUMNS | set(EXEMPT_DIGEST_COLUMNS)


async def test_no_stored_digest_is_a_plain_hash_of_its_input(
    client: httpx.AsyncClient, db: AsyncSession, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    body = booking_body([flight["id"]], passengers=[traveller(date_of_birth="1986-12-09")])
    headers = {**passenger.headers, "Idempotency-Key": "birthday-1"}
    assert (await client.post("/bookings", json=body, headers=headers)).status_code == 201
    signed_in = await client.post(
        "/login", json={"email": passenger.email, "password": TEST_PASSWORD}
    )
    refresh_token = signed_in.json()["refresh_token"]

    stored = (await db.scalars(select(IdempotencyKey))).one()
    # What the digest is of: the validated body, canonicalised as the bookings router does.
    canonical = request_fingerprint(BookingCreate.model_validate(body).model_dump(mode="json"))
    assert digest_keys().matches(stored.request_hash, canonical)
    assert stored.request_hash.startswith("h1:")
    assert stored.request_hash.rsplit(":", 1)[1] not in _plain_hashes(canonical)
    assert stored.request_hash not in _plain_hashes(canonical)
    # The exempt refresh-token digest is the plain hash of a random token, as documented.
    token_row = (await db.scalars(select(RefreshToken))).one()
    assert token_row.token_hash == hashlib.sha256(refresh_token.encode()).hexdigest()


async def test_a_replay_is_recognised_by_its_keyed_digest_and_a_changed_body_is_not(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    body = booking_body([flight["id"]])
    headers = {**passenger.headers, "Idempotency-Key": "replay-1"}

    first = await client.post("/bookings", json=body, headers=headers)
    replay = await client.post("/bookings", json=body, headers=headers)
    changed = await client.post(
        "/bookings", json=booking_body([flight["id"]], passengers=2), headers=headers
    )

    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert changed.json()["error"]["code"] == "idempotency_key_reused"


async def test_old_digests_still_verify_after_a_new_key_is_put_first() -> None:
    k1, k2 = (("k1", os.urandom(32)), ("k2", os.urandom(32)))
    data = b'{"date_of_birth":"1986-12-09"}'
    before = DigestKeys([k1]).digest(data)

    rotated = DigestKeys([k2, k1])
    assert before.startswith("h1:k1:")
    assert rotated.matches(before, data)
    assert rotated.digest(data).startswith("h1:k2:")
    assert not rotated.matches(before, b'{"date_of_birth":"1986-12-10"}')
    assert not DigestKeys([k2]).matches(before, data)  # a retired key no longer verifies


async def test_a_plain_digest_stored_before_keyed_ones_still_verifies_until_it_expires() -> None:
    data = b'{"a":1}'
    keys = DigestKeys([("k1", os.urandom(32))])

    assert keys.matches(hashlib.sha256(data).hexdigest(), data)
    assert not keys.matches(hashlib.sha256(b"other").hexdigest(), data)


async def test_digest_keys_are_derived_from_the_encryption_keys_unless_set(
    app: FastAPI,
) -> None:
    settings: Settings = app.state.settings
    (encryption_kid, encryption_key), *_ = parse_keys(settings.encryption_keys)
    derived = load_digest_keys(settings)
    explicit = load_digest_keys(
        settings.model_copy(update={"digest_keys": generate_key_spec("d9")})
    )

    assert derived.current_kid == encryption_kid
    assert derived.digest(b"x") == DigestKeys(
        [(encryption_kid, derive_digest_key(encryption_key))]
    ).digest(b"x")
    assert derive_digest_key(encryption_key) != encryption_key
    assert explicit.current_kid == "d9"
