"""AES-256-GCM field encryption with key ids, so keys can rotate.

Stored form: `v1:<kid>:<base64url(nonce || ciphertext+tag)>`. The first key encrypts; every
configured key decrypts, so old rows stay readable after a new key is put first.
"""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from flightdeck.platform.settings import Settings

log = logging.getLogger(__name__)


class KeyRing:
    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is required")
        for kid, key in keys:
            if len(key) != 32:
                raise ValueError(f"encryption key {kid!r} must be 32 bytes (AES-256)")
        self.current_kid = keys[0][0]
        self._ciphers = {kid: AESGCM(key) for kid, key in keys}

    def encrypt(self, plaintext: str) -> str:
        nonce = os.urandom(12)
        sealed = self._ciphers[self.current_kid].encrypt(nonce, plaintext.encode(), None)
        blob = base64.urlsafe_b64encode(nonce + sealed).decode()
        return f"v1:{self.current_kid}:{blob}"

    def decrypt(self, stored: str) -> str:
        try:
            version, kid, blob = stored.split(":", 2)
            raw = base64.urlsafe_b64decode(blob.encode())
            if version != "v1" or kid not in self._ciphers:
                raise ValueError(f"unknown key id {kid!r}")
            return self._ciphers[kid].decrypt(raw[:12], raw[12:], None).decode()
        except (ValueError, InvalidTag) as exc:
            raise ValueError(
                "encrypted field cannot be decrypted with the configured keys"
            ) from exc


def parse_keys(spec: str) -> list[tuple[str, bytes]]:
    keys = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        kid, _, b64 = part.partition(":")
        keys.append((kid, base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))))
    return keys


def generate_key_spec(kid: str = "k1") -> str:
    return f"{kid}:{base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


def load_keyring(settings: Settings) -> KeyRing:
    return KeyRing(load_encryption_keys(settings))


def load_encryption_keys(settings: Settings) -> list[tuple[str, bytes]]:
    """The configured (kid, key) pairs, first one current; in development a generated key."""
    if settings.encryption_keys:
        return parse_keys(settings.encryption_keys)
    if settings.is_production:
        raise RuntimeError("FLIGHTDECK_ENCRYPTION_KEYS must be set in production")
    # Development: a generated key kept in a local file so the data survives restarts.
    path = Path(settings.encryption_key_file)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(generate_key_spec("dev1") + "\n")
        path.chmod(0o600)
        log.warning(
            "generated a development encryption key in %s; set FLIGHTDECK_ENCRYPTION_KEYS "
            "in production",
            path,
        )
    return parse_keys(path.read_text().strip())


_keyring: KeyRing | None = None


def configure_keyring(keyring: KeyRing) -> None:
    global _keyring
    _keyring = keyring


def keyring() -> KeyRing:
    if _keyring is None:
        raise RuntimeError("encryption keyring not configured")
    return _keyring


class EncryptedString(TypeDecorator[str]):
    """A text column whose value is encrypted with the configured keyring."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else keyring().encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else keyring().decrypt(value)
