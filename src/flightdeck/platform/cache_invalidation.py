"""Cache invalidations tied to a database transaction: made now and again right after the
session's transaction commits (nothing more if it rolls back), and, with a read replica, once
more after the longest lag reads from it tolerate. A search between the first invalidation and
the commit could otherwise cache the data of before the change (platform/cache.py holds the
caches themselves).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from flightdeck.platform.cache import get_cache

# Invalidations scheduled after a commit; referenced until done so they are not collected.
_pending: set[asyncio.Task[None]] = set()
_SESSION_TAGS = "flightdeck.cache.invalidate_after_commit"
_SESSION_KEYS = "flightdeck.cache.delete_after_commit"


_SESSION_TASKS = "flightdeck.cache.after_commit_tasks"
# With a read replica, the invalidation after a commit is repeated this many seconds later
# (the longest lag reads from the replica tolerate): a search that read the replica before it
# replayed the change, and cached that answer, cannot keep it longer (0: no repeat).
_repeat_after_seconds = 0.0


def invalidate_again_after(seconds: float) -> float:
    """Sets the repeat delay of after-commit invalidations; returns the previous one."""
    global _repeat_after_seconds
    previous, _repeat_after_seconds = _repeat_after_seconds, seconds
    return previous


def _start(work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    task = asyncio.get_running_loop().create_task(work, name="cache.invalidate")
    _pending.add(task)
    task.add_done_callback(_pending.discard)
    return task


def _schedule(session: Any, work: Coroutine[Any, Any, None]) -> None:
    session.info.setdefault(_SESSION_TASKS, []).append(_start(work))


async def _again_later(tags: list[str], keys: list[str], delay: float) -> None:
    await asyncio.sleep(delay)
    if tags:
        await get_cache().invalidate_tags(tags)
    if keys:
        await get_cache().delete(keys)


# Listeners of every session (registered once: a listener added per session cost more than
# the invalidation itself on the hold path); a session with nothing pending returns at once.
@event.listens_for(Session, "after_commit")
def _after_commit(session: Any) -> None:
    info = session.info
    if _SESSION_TAGS not in info and _SESSION_KEYS not in info:
        return
    if session.get_nested_transaction() is not None:
        return  # a SAVEPOINT was released; the transaction goes on
    tags: set[str] = session.info.pop(_SESSION_TAGS, set())
    keys: set[str] = session.info.pop(_SESSION_KEYS, set())
    if tags:
        _schedule(session, get_cache().invalidate_tags(sorted(tags)))
    if keys:
        _schedule(session, get_cache().delete(sorted(keys)))
    if (tags or keys) and _repeat_after_seconds > 0:
        # Not among the session's tasks: `finish_invalidations` must not wait for it.
        _start(_again_later(sorted(tags), sorted(keys), _repeat_after_seconds))


async def finish_invalidations(session: AsyncSession) -> None:
    """Waits until the invalidations the session's last commit started are done (a cache
    failure only costs speed: nothing is raised), so the caller's next read sees them.

    A request waits three turns of the event loop here (a task to start, one to wait for).
    Tried in the request's own task instead (December 2026; holds bench, five alternating
    runs each): 331-484 -> 394-594 holds/s, but the reads beside them got slower (GET p99
    16.9-24.1 -> 22.5-31.4 ms; hold p99 up in three of five): the turns a hold yields here
    let them in."""
    tasks: list[asyncio.Task[None]] = session.sync_session.info.pop(_SESSION_TASKS, [])
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Any) -> None:
    info = session.info
    if _SESSION_TAGS not in info and _SESSION_KEYS not in info:
        return
    if session.get_nested_transaction() is None:  # the whole transaction, not a SAVEPOINT
        info.pop(_SESSION_TAGS, None)
        info.pop(_SESSION_KEYS, None)


def _pending_after_commit(session: AsyncSession, name: str) -> set[str]:
    pending: set[str] = session.sync_session.info.setdefault(name, set())
    return pending


async def invalidate_tags(tags: Iterable[str], *, session: AsyncSession | None = None) -> None:
    """Invalidates the tags in the configured cache now and, when `session` is given, again
    right after its transaction commits (nothing more if it rolls back)."""
    tags = sorted(set(tags))
    await get_cache().invalidate_tags(tags)
    if session is not None:
        _pending_after_commit(session, _SESSION_TAGS).update(tags)


async def delete_keys(keys: Iterable[str], *, session: AsyncSession | None = None) -> None:
    """Drops the keys from the configured cache now and, when `session` is given, again right
    after its transaction commits (a read between the two could cache what was true before
    the change)."""
    keys = sorted(set(keys))
    await get_cache().delete(keys)
    if session is not None:
        _pending_after_commit(session, _SESSION_KEYS).update(keys)
