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
  comes sooner gets 429 with `Retry-After` (and `pace_seconds`, the spacing after that
  wait). Nothing locks the account: an attacker with any
  number of addresses gets `login_pace_after_attempts` guesses, then one per spacing;
- a successful sign-in clears its (account, address) failures and makes the address known to
  the account for `login_known_address_days`. Known addresses skip the pacing, so the owner at
  their usual address is not slowed by an attack from elsewhere.

The account-wide steps count attempts, not failures, and admit them atomically (a failure is
only known after the password check, so a burst of simultaneous guesses would all pass a
failure count). Every counter lives in the rate-limit storage (Redis when configured), shared
by all instances, under keyed digests of the email and the address (HMAC-SHA256 with a key
derived from the JWT secret), never the email or the address itself. An unknown email goes
through the same steps, so throttling does not reveal which accounts exist.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from functools import lru_cache

from limits import RateLimitItemPerSecond
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter

from flightdeck.platform.ratelimit import (
    ExpiringFlags,
    FailureThrottle,
    IntervalGate,
    too_many_attempts,
)
from flightdeck.platform.security.tokens import jwt_secret
from flightdeck.platform.settings import Settings

SECONDS_PER_DAY = 86_400


@lru_cache(maxsize=4)
def _digest_key(secret: str) -> bytes:
    # A key of its own, derived from the JWT secret: the counters need no other secret, and
    # a digest here can never be mistaken for a token signature.
    return hmac.new(secret.encode(), b"flightdeck/login-throttle", hashlib.sha256).digest()


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
        self._key = _digest_key(jwt_secret(settings))

    def _digest(self, value: str) -> str:
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()[:32]

    def _account(self, email: str) -> str:
        return f"login:account:{self._digest(email)}"

    def _pair(self, email: str, address: str) -> str:
        return f"login:pair:{self._digest(email)}:{self._digest(address)}"

    def _address(self, address: str) -> str:
        return f"login:address:{self._digest(address)}"

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
        account = self._account(email)
        if await self.attempts.hit(self.unpaced, "unpaced", account):
            return
        stats = await self.attempts.get_window_stats(self.paced, "paced", account)
        spacing = self.spacing_after(self.paced.amount - stats.remaining)
        wait = await self.pace.admit(account, spacing)
        if wait is not None:
            raise too_many_attempts(wait, pace_seconds=spacing)
        await self.attempts.hit(self.paced, "paced", account)

    async def record_failure(self, email: str, address: str) -> None:
        await self.address.record_failure(self._address(address))
        await self.pair.record_failure(self._pair(email, address))

    async def record_success(self, email: str, address: str) -> None:
        # The account-wide counts stay: an attack going on elsewhere keeps being paced.
        await self.pair.reset(self._pair(email, address))
        await self.known.remember(self._pair(email, address), self.known_seconds)
