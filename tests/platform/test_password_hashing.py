"""Password hashing costs: argon2id at the settings' costs, RFC 9106's low-memory profile by
default, weak profiles refused in production, and old hashes upgraded at sign-in."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from argon2 import PasswordHasher
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import TestUser
from tests.users.factories import fetch_rows, login, run_sql

from flightdeck.platform.security.passwords import (
    HashingCost,
    hash_password,
    use_hashing_cost,
    verify_password,
)
from flightdeck.platform.settings import Settings


@pytest.fixture
def default_cost() -> Iterator[None]:
    """Hashes at the default cost inside the test, at the suite's afterwards."""
    use_hashing_cost(HashingCost())
    yield
    use_hashing_cost(Settings().password_hashing)


def test_the_default_is_rfc_9106_low_memory_argon2id(default_cost: None) -> None:
    defaults = {
        name: Settings.model_fields[f"password_hash_{name}"].default
        for name in ("memory_kib", "time_cost", "parallelism")
    }
    assert defaults == {"memory_kib": 65536, "time_cost": 3, "parallelism": 4}
    hashed = hash_password("a long passphrase")
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert verify_password(hashed, "a long passphrase")


def test_a_hash_made_at_other_costs_still_verifies() -> None:
    older = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=2).hash("a passphrase")
    assert verify_password(older, "a passphrase")
    assert not verify_password(older, "another passphrase")


@pytest.mark.parametrize(
    ("memory_kib", "time_cost"), [(1024, 1), (19456, 1), (12288, 2), (7168, 4)]
)
def test_production_refuses_costs_below_the_owasp_minimum(memory_kib: int, time_cost: int) -> None:
    with pytest.raises(ValidationError, match="below OWASP's argon2id minimum"):
        Settings(
            environment="production",
            password_hash_memory_kib=memory_kib,
            password_hash_time_cost=time_cost,
            password_hash_parallelism=1,
        )


@pytest.mark.parametrize(("memory_kib", "time_cost"), [(19456, 2), (47104, 1), (7168, 5)])
def test_production_takes_the_owasp_profiles(memory_kib: int, time_cost: int) -> None:
    settings = Settings(
        environment="production",
        password_hash_memory_kib=memory_kib,
        password_hash_time_cost=time_cost,
        password_hash_parallelism=1,
    )
    assert settings.password_hashing == HashingCost(memory_kib, time_cost, 1)


def test_memory_below_eight_kib_per_lane_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 8 KiB per lane"):
        Settings(password_hash_memory_kib=16, password_hash_parallelism=4)


@pytest.mark.asyncio(loop_scope="session")
async def test_sign_in_rehashes_a_password_stored_at_older_costs(
    client: httpx.AsyncClient, passenger: TestUser, db: AsyncSession
) -> None:
    older = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=2).hash(passenger.password)
    await run_sql(
        db, "UPDATE users SET password_hash = :h WHERE id = :id", h=older, id=passenger.id
    )

    assert (await login(client, passenger.email, passenger.password)).status_code == 200

    [(stored,)] = await fetch_rows(
        db, "SELECT password_hash FROM users WHERE id = :id", id=passenger.id
    )
    cost = Settings().password_hashing
    assert stored.startswith(
        f"$argon2id$v=19$m={cost.memory_kib},t={cost.time_cost},p={cost.parallelism}$"
    )
    assert (await login(client, passenger.email, passenger.password)).status_code == 200
