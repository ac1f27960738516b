"""argon2id password hashing, at the costs the settings give (`password_hash_*`; by default
argon2-cffi's, the RFC 9106 low-memory profile: 64 MiB, 3 passes, 4 lanes).

A stored hash carries the costs it was made with, so it verifies whatever the settings say
now; `needs_rehash` tells the sign-in to store it again at today's costs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HashingCost:
    memory_kib: int = 65536
    time_cost: int = 3
    parallelism: int = 4

    @property
    def below_owasp_minimum(self) -> bool:
        """Weaker than every argon2id profile OWASP's cheat sheet lists (19 MiB x 2 passes,
        47 MiB x 1, ... 7 MiB x 5: memory x passes of at least 35,840 KiB)."""
        return self.memory_kib * self.time_cost < OWASP_MINIMUM_KIB_PASSES


OWASP_MINIMUM_KIB_PASSES = 7168 * 5

_current = [HashingCost()]


@lru_cache(maxsize=4)
def _hasher(cost: HashingCost) -> PasswordHasher:
    return PasswordHasher(
        time_cost=cost.time_cost, memory_cost=cost.memory_kib, parallelism=cost.parallelism
    )


@lru_cache(maxsize=4)
def _dummy_hash(cost: HashingCost) -> str:
    # Verified against when the account does not exist, so both paths cost the same time.
    return _hasher(cost).hash("flightdeck-timing-equaliser")


def use_hashing_cost(cost: HashingCost) -> None:
    """New hashes (and re-hashes at sign-in) use `cost` from now on, in this process."""
    if cost.below_owasp_minimum:
        log.warning(
            "password hashing at %s KiB x %s passes is below OWASP's argon2id minimum",
            cost.memory_kib,
            cost.time_cost,
        )
    _current[0] = cost


def hash_password(password: str) -> str:
    return _hasher(_current[0]).hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    cost = _current[0]
    try:
        hashed = password_hash or _dummy_hash(cost)
        return _hasher(cost).verify(hashed, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher(_current[0]).check_needs_rehash(password_hash)
