"""Unit tests of the platform's security pieces: field encryption, tokens, passwords."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest

from flightdeck.platform.clock import clock
from flightdeck.platform.security import tokens
from flightdeck.platform.security.encryption import KeyRing, generate_key_spec, parse_keys
from flightdeck.platform.security.passwords import hash_password, verify_password
from flightdeck.platform.security.tokens import (
    InvalidToken,
    decode_access_token,
    issue_access_token,
)
from flightdeck.platform.settings import Settings


def test_encrypted_value_is_not_plaintext_and_round_trips() -> None:
    ring = KeyRing(parse_keys(generate_key_spec("k1")))
    stored = ring.encrypt("+1 555 0100")
    assert stored.startswith("v1:k1:")
    # Neither the text nor its bytes in what is stored (a short piece such as "555" turns up
    # in random base64 now and then, so the whole value is looked for).
    assert "+1 555 0100" not in stored
    assert b"+1 555 0100" not in base64.urlsafe_b64decode(stored.removeprefix("v1:k1:"))
    assert ring.decrypt(stored) == "+1 555 0100"
    assert ring.encrypt("+1 555 0100") != stored  # a fresh nonce every time


def test_rotated_keyring_reads_old_values_and_writes_with_the_new_key() -> None:
    old = generate_key_spec("k1")
    stored = KeyRing(parse_keys(old)).encrypt("secret")
    rotated = KeyRing(parse_keys(generate_key_spec("k2") + "," + old))
    assert rotated.decrypt(stored) == "secret"
    assert rotated.encrypt("secret").startswith("v1:k2:")


def test_tampered_ciphertext_is_refused() -> None:
    ring = KeyRing(parse_keys(generate_key_spec("k1")))
    stored = ring.encrypt("secret")
    tampered = stored[:-4] + ("AAAA" if not stored.endswith("AAAA") else "BBBB")
    with pytest.raises(ValueError, match="cannot be decrypted"):
        ring.decrypt(tampered)


def test_key_must_be_256_bits() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        KeyRing([("short", b"0" * 16)])


def test_access_token_expires_after_its_lifetime() -> None:
    settings = Settings(jwt_secret="s" * 40, access_token_minutes=15)
    token, seconds = issue_access_token(settings, "user-1", "agent")
    assert seconds == 900
    assert decode_access_token(settings, token).role == "agent"
    try:
        clock.advance(timedelta(minutes=15, seconds=1))
        with pytest.raises(InvalidToken):
            decode_access_token(settings, token)
    finally:
        clock.reset()


def test_token_signed_with_another_secret_is_refused() -> None:
    token, _ = issue_access_token(Settings(jwt_secret="a" * 40), "user-1", "admin")
    with pytest.raises(InvalidToken):
        decode_access_token(Settings(jwt_secret="b" * 40), token)


def test_passwords_hash_with_argon2id_and_verify() -> None:
    hashed = hash_password("a long passphrase")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "a long passphrase")
    assert not verify_password(hashed, "a wrong passphrase")
    assert not verify_password(None, "a long passphrase")


def test_a_token_is_verified_once_and_its_claims_checked_on_every_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(jwt_secret="v" * 40, access_token_minutes=15)
    token, _ = issue_access_token(settings, "user-2", "passenger")
    verified: list[str] = []
    real_decode = tokens.jwt.decode

    def counting_decode(token: str, *args: Any, **kwargs: Any) -> Any:
        verified.append(token)
        return real_decode(token, *args, **kwargs)

    monkeypatch.setattr(tokens.jwt, "decode", counting_decode)
    for _ in range(3):
        assert decode_access_token(settings, token).user_id == "user-2"
    assert verified == [token]
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"
    with pytest.raises(InvalidToken):
        decode_access_token(settings, forged)
    with pytest.raises(InvalidToken):  # the same token under another secret is checked afresh
        decode_access_token(Settings(jwt_secret="w" * 40), token)
    try:
        clock.advance(timedelta(minutes=15, seconds=1))
        with pytest.raises(InvalidToken):  # expiry is checked on every use
            decode_access_token(settings, token)
    finally:
        clock.reset()
