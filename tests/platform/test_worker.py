"""The background worker helper: periodic rounds, early wake-ups, backoff, clean stops, metrics.

Every wait is bounded by `asyncio.timeout`, the failure condition: nothing here asserts speed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from flightdeck.platform.wakeup import CommitSignal
from flightdeck.platform.worker import BackgroundWorker, Backoff, Worker, stop_workers

HOUR = 3600.0  # an interval no test waits out: a second round before it was woken early
WOKEN_BY_COMMIT = CommitSignal("test-worker")


class Rounds:
    """A step that counts its rounds; `reached(n)` waits until it has run `n` of them."""

    def __init__(self, script: Callable[[int], Awaitable[bool | None]] | None = None) -> None:
        self.count = 0
        self._script = script
        self._changed = asyncio.Condition()

    async def __call__(self) -> bool | None:
        self.count += 1
        async with self._changed:
            self._changed.notify_all()
        return await self._script(self.count) if self._script else None

    async def reached(self, rounds: int) -> None:
        async with asyncio.timeout(5), self._changed:
            await self._changed.wait_for(lambda: self.count >= rounds)


class Sleeps(list[float]):
    """A worker's `sleep` that records each wait and returns at once."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)
        await asyncio.sleep(0)


async def never_returns() -> None:
    await asyncio.Event().wait()


@pytest_asyncio.fixture
async def workers() -> AsyncIterator[list[BackgroundWorker]]:
    """Workers a test starts; stopped after it whatever happened."""
    started: list[BackgroundWorker] = []
    yield started
    await stop_workers(*started)


def running(workers: list[BackgroundWorker], worker: BackgroundWorker) -> BackgroundWorker:
    workers.append(worker)
    worker.start()
    return worker


async def test_a_worker_runs_its_step_again_every_interval(
    workers: list[BackgroundWorker],
) -> None:
    rounds = Rounds()
    running(workers, BackgroundWorker("test-periodic", rounds, interval=0.01))
    await rounds.reached(3)


async def test_notify_wakes_the_worker_before_its_interval(
    workers: list[BackgroundWorker],
) -> None:
    rounds = Rounds()
    worker = running(workers, BackgroundWorker("test-notify", rounds, interval=HOUR))
    await rounds.reached(1)
    worker.notify()
    await rounds.reached(2)


async def test_a_commit_that_marked_its_signal_wakes_the_worker(
    workers: list[BackgroundWorker],
) -> None:
    rounds = Rounds()
    running(
        workers,
        BackgroundWorker("test-commit", rounds, interval=HOUR, wake_on=WOKEN_BY_COMMIT),
    )
    await rounds.reached(1)
    engine = create_async_engine("sqlite+aiosqlite://")
    try:
        async with async_sessionmaker(engine)() as session, session.begin():
            await session.execute(text("SELECT 1"))
            WOKEN_BY_COMMIT.mark(session)
    finally:
        await engine.dispose()
    await rounds.reached(2)


async def test_a_step_with_more_work_waiting_runs_again_at_once(
    workers: list[BackgroundWorker],
) -> None:
    async def full_batches(round_number: int) -> bool:
        return round_number < 3  # two full batches, then a short one

    rounds = Rounds(full_batches)
    running(workers, BackgroundWorker("test-batches", rounds, interval=HOUR))
    await rounds.reached(3)


async def test_a_wake_up_soon_after_a_round_waits_out_the_gap_a_later_one_does_not(
    workers: list[BackgroundWorker],
) -> None:
    # Under a stream of commits one round takes on what several brought; quiet, a wake-up
    # still runs the round at once.
    gaps = Sleeps()
    rounds = Rounds()
    worker = BackgroundWorker("test-gap", rounds, interval=HOUR, min_gap=HOUR, sleep=gaps)
    running(workers, worker)
    await rounds.reached(1)
    worker.notify()
    await rounds.reached(2)
    assert len(gaps) == 1 and HOUR - 60 < gaps[0] <= HOUR  # the rest of the hour since round 1

    later = Rounds()
    quiet = BackgroundWorker("test-gap-quiet", later, interval=HOUR, min_gap=0.05, sleep=gaps)
    running(workers, quiet)
    await later.reached(1)
    await asyncio.sleep(0.1)  # longer than its gap since its first round began
    quiet.notify()
    await later.reached(2)
    assert len(gaps) == 1  # no wait before the second round


async def test_a_failing_step_does_not_end_the_loop(workers: list[BackgroundWorker]) -> None:
    async def fails_first(round_number: int) -> None:
        if round_number == 1:
            raise RuntimeError("the first round fails")

    rounds = Rounds(fails_first)
    worker = running(workers, BackgroundWorker("test-survives", rounds, interval=0.01))
    await rounds.reached(3)
    assert worker.running
    assert worker.failures == 0  # reset by the rounds that succeeded


async def test_backoff_doubles_up_to_its_maximum_and_starts_over_after_a_success(
    workers: list[BackgroundWorker],
) -> None:
    delays = Sleeps()

    async def script(round_number: int) -> bool:
        if round_number == 7:
            await never_returns()
        if round_number == 5:
            return True  # succeeds, with more work waiting: no idle wait before round 6
        raise ConnectionError("down")

    rounds = Rounds(script)
    worker = BackgroundWorker(
        "test-backoff", rounds, interval=HOUR, backoff=Backoff(0.2, 0.5), sleep=delays
    )
    running(workers, worker)
    await rounds.reached(7)
    assert delays == [0.2, 0.4, 0.5, 0.5, 0.2]
    assert worker.failures == 1


def test_backoff_stays_at_its_maximum_however_long_the_outage() -> None:
    backoff = Backoff(1.0, 300.0)
    assert [backoff.delay(n) for n in (1, 2, 3, 9, 10)] == [1.0, 2.0, 4.0, 256.0, 300.0]
    assert backoff.delay(5000) == 300.0


async def test_stop_cancels_a_step_blocked_on_an_await_that_never_returns() -> None:
    step_tasks: list[asyncio.Task[object] | None] = []

    async def blocked(round_number: int) -> None:
        step_tasks.append(asyncio.current_task())
        await never_returns()

    rounds = Rounds(blocked)
    worker = BackgroundWorker("test-stop", rounds, interval=HOUR)
    worker.start()
    await rounds.reached(1)
    await asyncio.sleep(0)  # the step is now inside its await
    async with asyncio.timeout(1):
        await worker.stop()
    (task,) = step_tasks
    assert task is not None and task.done() and task.cancelled()
    assert not worker.running


async def test_stop_returns_even_when_a_step_ignores_its_cancellation() -> None:
    release = asyncio.Event()
    step_tasks: list[asyncio.Task[object] | None] = []

    async def stubborn(round_number: int) -> None:
        step_tasks.append(asyncio.current_task())
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue  # a client that swallows cancellation

    rounds = Rounds(stubborn)
    worker = BackgroundWorker("test-stubborn", rounds, interval=HOUR, stop_grace=0.1)
    worker.start()
    await rounds.reached(1)
    await asyncio.sleep(0)
    async with asyncio.timeout(2):
        await worker.stop()
    (task,) = step_tasks
    assert task is not None and not task.done()  # left behind, not waited for
    release.set()
    async with asyncio.timeout(2):
        await asyncio.wait({task})
    assert rounds.count == 1  # once its step returned, the stopped loop ended by itself


async def test_a_stopped_worker_starts_again(workers: list[BackgroundWorker]) -> None:
    rounds = Rounds()
    worker: Worker = running(workers, BackgroundWorker("test-restart", rounds, interval=HOUR))
    await rounds.reached(1)
    await worker.stop()
    worker.start()
    await rounds.reached(2)


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_rounds_are_counted_per_worker_and_outcome(
    workers: list[BackgroundWorker],
) -> None:
    name = "test-metrics"
    ok_before = sample("flightdeck_worker_runs_total", {"worker": name, "outcome": "ok"})
    failed_before = sample("flightdeck_worker_runs_total", {"worker": name, "outcome": "failed"})
    timed_before = sample("flightdeck_worker_run_seconds_count", {"worker": name})

    async def script(round_number: int) -> None:
        if round_number == 1:
            raise RuntimeError("the first round fails")
        if round_number == 4:
            await never_returns()  # not counted: stopped mid-round

    rounds = Rounds(script)
    running(workers, BackgroundWorker(name, rounds, interval=0.01))
    await rounds.reached(4)
    await stop_workers(*workers)
    labels = {"worker": name}
    assert sample("flightdeck_worker_runs_total", {**labels, "outcome": "ok"}) - ok_before == 2
    assert sample("flightdeck_worker_runs_total", {**labels, "outcome": "failed"}) == (
        failed_before + 1
    )
    assert sample("flightdeck_worker_run_seconds_count", labels) - timed_before == 3
    assert sample("flightdeck_worker_last_success_timestamp_seconds", labels) > 0
    assert sample("flightdeck_worker_consecutive_failures", labels) == 0


async def test_an_expected_failure_is_one_warning_per_outage_an_unexpected_one_a_traceback(
    workers: list[BackgroundWorker], caplog: pytest.LogCaptureFixture
) -> None:
    async def script(round_number: int) -> bool:
        if round_number <= 3:
            raise ConnectionError("the server is down")
        if round_number == 4:
            raise ValueError("a bug")
        if round_number == 6:
            await never_returns()
        return True  # round 5 succeeds with more work waiting: round 6 follows at once

    async def no_wait(seconds: float) -> None:
        await asyncio.sleep(0)

    rounds = Rounds(script)
    worker = BackgroundWorker(
        "test-logs",
        rounds,
        interval=HOUR,
        backoff=Backoff(0.1, 0.1),
        expected_failures=(ConnectionError,),
        sleep=no_wait,
    )
    with caplog.at_level(logging.INFO, logger="flightdeck.platform.worker"):
        running(workers, worker)
        await rounds.reached(6)
    records = [(r.levelname, r.getMessage(), r.exc_info is not None) for r in caplog.records]
    assert records == [
        ("WARNING", "test-logs round failed, will retry: the server is down", False),
        ("ERROR", "test-logs round failed", True),
        ("INFO", "test-logs resumed after 4 failed rounds", False),
    ]
