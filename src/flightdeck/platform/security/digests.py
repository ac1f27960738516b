"""Keyed digests (HMAC-SHA256) of personal data, with key ids so the keys can rotate.

A plain hash of personal data can be reversed by trying every value: a birth date has about
40,000, so an unsalted SHA-256 of a booking request gives it back from the database file alone
in seconds. An HMAC with a server key cannot be recomputed without that key.

Stored form: `h1:<kid>:<hex>`. The first key makes new digests; every configured key still
verifies, so old digests keep matching after a new key is put first. The keys come from
`FLIGHTDECK_DIGEST_KEYS` (`kid:base64key,...`), or are derived from each encryption key with
HKDF-SHA256 under a label of their own (same key ids), so they rotate with those.

Not keyed, by decision: refresh-token digests (users/): they hash 256-bit random tokens, with no
personal data and nothing to try, and they are looked up by equality on a unique index.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from flightdeck.platform.security.encryption import load_encryption_keys, parse_keys
from flightdeck.platform.settings import Settings

VERSION = "h1"
MIN_KEY_BYTES = 32
_DERIVATION_LABEL = b"flightdeck keyed digest v1"
_LEGACY_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class DigestKeys:
    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("at least one digest key is required")
        for kid, key in keys:
            if len(key) < MIN_KEY_BYTES:
                raise ValueError(f"digest key {kid!r} must be at least {MIN_KEY_BYTES} bytes")
            if not kid or ":" in kid:
                raise ValueError(f"digest key id {kid!r} must be non-empty, without ':'")
        self.current_kid = keys[0][0]
        self._keys = dict(keys)

    def digest(self, data: bytes) -> str:
        """`data`'s digest under the current key, in the stored form."""
        return f"{VERSION}:{self.current_kid}:{self._mac(self.current_kid, data)}"

    def matches(self, stored: str, data: bytes) -> bool:
        """Whether `stored` is `data`'s digest under any configured key. A plain SHA-256 (what
        was stored before keyed digests) still matches: such rows expire within a day."""
        if _LEGACY_SHA256.match(stored):
            return hmac.compare_digest(stored, hashlib.sha256(data).hexdigest())
        version, _, rest = stored.partition(":")
        kid, _, mac = rest.partition(":")
        if version != VERSION or kid not in self._keys:
            return False
        return hmac.compare_digest(mac, self._mac(kid, data))

    def _mac(self, kid: str, data: bytes) -> str:
        return hmac.new(self._keys[kid], data, hashlib.sha256).hexdigest()


def derive_digest_key(encryption_key: bytes) -> bytes:
    """A digest key of its own from an encryption key (never the same bytes for two uses)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_DERIVATION_LABEL)
    return hkdf.derive(encryption_key)


def load_digest_keys(settings: Settings) -> DigestKeys:
    if settings.digest_keys:
        return DigestKeys(parse_keys(settings.digest_keys))
    keys = load_encryption_keys(settings)
    return DigestKeys([(kid, derive_digest_key(key)) for kid, key in keys])


_digest_keys: DigestKeys | None = None


def configure_digest_keys(keys: DigestKeys) -> None:
    global _digest_keys
    _digest_keys = keys


def digest_keys() -> DigestKeys:
    if _digest_keys is None:
        raise RuntimeError("digest keys not configured")
    return _digest_keys
