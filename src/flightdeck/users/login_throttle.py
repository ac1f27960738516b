"""Sign-in throttling that an attacker cannot turn against the account's owner.

Following the OWASP authentication and credential-stuffing cheat sheets (settings in
parentheses; the policy is told in the README):

- per (account, client address): `login_max_failures` failures within
  `login_failure_window_seconds`, then 429 for that pair only; the owner elsewhere is unaffected;
- per client address, whatever the accounts: `login_max_failures_per_address` failures within
  the window, then 429 for that address (one address spraying many accounts);
- per account, from every address: of the attempts from addresses the account has not signed
  in from lately, `login_pace_after_attempts` within the window go through freely; after them
  such attempts are admitted one at a time, `login_pace_seconds` apart, the spacing doubling
  with each one admitted (counted over the window) up to `login_pace_max_seconds`; one that
  comes sooner gets 429 with `Retry-After`. Nothing locks the account: an attacker with any
  number of addresses gets `login_pace_after_attempts` guesses, then one per spacing;
- a successful sign-in clears its (account, address) failures and makes the address known to
  the account for `login_known_address_days`. Known addresses skip the pacing, so the owner at
  their usual address is not slowed by an attack from elsewhere.

The account-wide steps count attempts, not failures, and admit them atomically (a failure is
only known after the password check, so a burst of simultaneous guesses would all pass a
failure count). Every counter lives in the rate-limit storage (Redis when configured), shared
by all instances. An unknown email goes through the same steps, so throttling does not reveal
which accounts exist.
"""

from __future__ import annotations

import math

from limits import RateLimitItemPerSecond
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter

from flightdeck.platform.ratelimit import (
    ExpiringFlags,
    FailureThrottle,
    IntervalGate,
    too_many_attempts,
)
from flightdeck.platform.settings import Settings

SECONDS_PER_DAY = 86_400


class LoginThrottles:
    def __init__(self, settings: Settings, storage: Storage) -> None:
        window = settings.login_failure_window_seconds
        self.pace_seconds = settings.login_pace_seconds
        self.pace_max_seconds = max(settings.login_pace_max_seconds, settings.login_pace_seconds)
        self.known_seconds = settings.login_known_address_days * SECONDS_PER_DAY
        self.pair = FailureThrottle(settings.login_max_failures, window, storage)
        self.address = FailureThrottle(settings.login_max_failures_per_address, window, storage)
        self.attempts = MovingWindowRateLimiter(storage)
        self.unpaced = RateLimitItemPerSecond(settings.login_pace_after_attempts, window)
        # Paced admissions matter only until the spacing reaches its cap.
        doublings = math.ceil(math.log2(self.pace_max_seconds / self.pace_seconds))
        self.paced = RateLimitItemPerSecond(doublings + 1, window)
        self.pace = IntervalGate(storage, "login:pace")
        self.known = ExpiringFlags(storage, "login:known")

    @staticmethod
    def _pair(email: str, address: str) -> str:
        return f"login:pair:{email}:{address}"

    @staticmethod
    def _address(address: str) -> str:
        return f"login:address:{address}"

    def spacing_after(self, paced_admissions: int) -> int:
        """Seconds until the next paced attempt, after this many in the window."""
        doublings = min(paced_admissions, 32)
        return int(min(self.pace_max_seconds, self.pace_seconds * 2**doublings))

    async def admit(self, email: str, address: str) -> None:
        """Raises 429 (`too_many_attempts`, with Retry-After) when this attempt must wait."""
        await self.address.ensure_allowed(self._address(address))
        await self.pair.ensure_allowed(self._pair(email, address))
        if await self.known.is_set(self._pair(email, address)):
            return
        if await self.attempts.hit(self.unpaced, "login:unpaced", email):
            return
        stats = await self.attempts.get_window_stats(self.paced, "login:paced", email)
        paced_admissions = self.paced.amount - stats.remaining
        wait = await self.pace.admit(email, self.spacing_after(paced_admissions))
        if wait is not None:
            raise too_many_attempts(wait)
        await self.attempts.hit(self.paced, "login:paced", email)

    async def record_failure(self, email: str, address: str) -> None:
        await self.address.record_failure(self._address(address))
        await self.pair.record_failure(self._pair(email, address))

    async def record_success(self, email: str, address: str) -> None:
        # The account-wide counts stay: an attack going on elsewhere keeps being paced.
        await self.pair.reset(self._pair(email, address))
        await self.known.remember(self._pair(email, address), self.known_seconds)
