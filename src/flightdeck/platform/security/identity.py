"""Identity on every request: the user behind an access token, read from the database and
cached briefly in each process.

A token alone says who someone was when it was issued. Every authenticated request therefore
checks that the user still exists, is active, and that the token's version is the user's
current one (a password change or a deactivation moves it on, ending every token issued
before); the role is the user's current role, not the token's.

The platform knows no domain: the users domain registers the loader (`register_identity_loader`,
a hook) and publishes `USER_CHANGED` (in its transaction, through the outbox) whenever one of
these facts changes. Every instance evicts the user on that event (a broadcast subscription of
the platform module, which runs in every process whatever services it serves), and the instance
that made the change also evicts right after its commit, so its next request never sees the
old identity. A lost event costs at most `identity_cache_seconds` of staleness.
"""

from __future__ import annotations

import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from flightdeck.platform.events.bus import Event

USER_CHANGED = "user.changed"
_EVICT_ON_COMMIT = "flightdeck.identity.evict_on_commit"


@dataclass(frozen=True)
class Identity:
    user_id: str
    role: str
    is_active: bool
    token_version: int


IdentityLoader = Callable[[AsyncSession, str], Awaitable[Identity | None]]
_loader: IdentityLoader | None = None


def register_identity_loader(loader: IdentityLoader) -> None:
    """Sets how an identity is read (the users domain's hook)."""
    global _loader
    _loader = loader


def identity_loader() -> IdentityLoader | None:
    return _loader


# Every cache of this process (one per app), so an eviction reaches all of them.
_caches: weakref.WeakSet[IdentityCache] = weakref.WeakSet()


class IdentityCache:
    """Identities by user id for `ttl` seconds (None is cached too: an unknown id stays
    unknown), at most `max_entries`. A load that overlapped an eviction is not kept, so an
    identity read before a change committed never outlives the change's eviction."""

    def __init__(
        self,
        ttl: float,
        *,
        max_entries: int = 50_000,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._timer = timer
        self._entries: OrderedDict[str, tuple[float, Identity | None]] = OrderedDict()
        self._evictions = 0
        _caches.add(self)

    def __len__(self) -> int:
        return len(self._entries)

    async def get(
        self, user_id: str, load: Callable[[], Awaitable[Identity | None]]
    ) -> Identity | None:
        """The user's identity (None when there is no such user), from the cache or `load`."""
        entry = self._entries.get(user_id)
        if entry is not None and entry[0] > self._timer():
            self._entries.move_to_end(user_id)
            return entry[1]
        evictions = self._evictions
        identity = await load()
        if self.ttl > 0 and evictions == self._evictions:
            self._entries[user_id] = (self._timer() + self.ttl, identity)
            self._entries.move_to_end(user_id)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return identity

    def evict(self, user_id: str) -> None:
        self._evictions += 1
        self._entries.pop(user_id, None)

    def clear(self) -> None:
        self._evictions += 1
        self._entries.clear()


async def load_identity(session: AsyncSession, user_id: str) -> Identity | None:
    """Reads the identity with the registered loader, in the caller's session (a request's
    own: no second connection)."""
    if _loader is None:
        raise RuntimeError("no identity loader registered (the users module's hook)")
    return await _loader(session, user_id)


def forget_identity(user_id: str) -> None:
    """Evicts the user from every identity cache of this process."""
    for cache in list(_caches):
        cache.evict(user_id)


def forget_identity_on_commit(session: AsyncSession, user_id: str) -> None:
    """Evicts the user now and again right after `session` commits (a request reading the
    user between the two cannot keep what it read)."""
    forget_identity(user_id)
    session.info.setdefault(_EVICT_ON_COMMIT, set()).add(user_id)


@event.listens_for(Session, "after_commit")
def _evict_committed(session: Session) -> None:
    for user_id in session.info.pop(_EVICT_ON_COMMIT, ()):
        forget_identity(user_id)


@event.listens_for(Session, "after_rollback")
def _drop_evictions(session: Session) -> None:
    session.info.pop(_EVICT_ON_COMMIT, None)


async def evict_changed_user(event_: Event) -> None:
    """The bus handler: a user changed on some instance, so forget them here too."""
    user_id = event_.payload.get("user_id") or event_.aggregate_id
    forget_identity(str(user_id))
