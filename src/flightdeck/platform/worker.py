"""Background workers: the one loop behind the hold sweeper, the payment reconciler, the refund
worker and the outbox relay.

A `BackgroundWorker` runs its step (one round of work) at once, then again after `interval`
seconds, or sooner when `notify()` is called (from any thread) or when the `CommitSignal` it
is woken on fires after a commit that gave it work. A step that returns True left work for an
immediate next round (a full batch). A round that raises is logged and counted, and the loop
goes on: after `interval` again, or, with a `Backoff`, after a wait that doubles with each
failure in a row up to its maximum and starts over after a success. `stop()` cancels the loop,
even in the middle of a step's await, and waits for it at most `stop_grace` seconds.

Prometheus, per worker (label `worker`, its name): `flightdeck_worker_runs_total{outcome}`
(`ok` / `failed`), `flightdeck_worker_run_seconds` (a round's duration),
`flightdeck_worker_last_success_timestamp_seconds` and `flightdeck_worker_consecutive_failures`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import Counter, Gauge, Histogram

from flightdeck.platform.wakeup import CommitSignal, Wakeup

log = logging.getLogger(__name__)

RUNS = Counter(
    "flightdeck_worker_runs_total", "Rounds of background workers", ["worker", "outcome"]
)
RUN_SECONDS = Histogram(
    "flightdeck_worker_run_seconds",
    "How long a background worker's round took",
    ["worker"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0),
)
LAST_SUCCESS = Gauge(
    "flightdeck_worker_last_success_timestamp_seconds",
    "When a background worker last finished a round without error (Unix time)",
    ["worker"],
)
CONSECUTIVE_FAILURES = Gauge(
    "flightdeck_worker_consecutive_failures",
    "Failed rounds in a row of a background worker (0: its last round succeeded)",
    ["worker"],
)

# One round of a worker's job; True when it left work for an immediate next round.
Step = Callable[[], Awaitable[bool | None]]


class Worker(Protocol):
    """A background loop a running server starts and stops."""

    name: str

    def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True)
class Backoff:
    """Waits after failures in a row: `initial` seconds, doubled each time up to `maximum`."""

    initial: float
    maximum: float

    def delay(self, failures: int) -> float:
        """The wait after the `failures`-th failure in a row (1 for the first)."""
        # The exponent is bounded so that a very long outage cannot overflow the float.
        exponent = min(max(failures - 1, 0), 1000)
        return min(self.initial * 2.0**exponent, self.maximum)


class BackgroundWorker:
    """A loop that runs `step` periodically or when woken, backs off on failure and stops
    cleanly; it implements `Worker`."""

    def __init__(
        self,
        name: str,
        step: Step,
        *,
        interval: float,
        backoff: Backoff | None = None,
        wake_on: CommitSignal | None = None,
        expected_failures: tuple[type[Exception], ...] = (),
        stop_grace: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        min_gap: float = 0.0,
    ) -> None:
        """`interval`: seconds between rounds. `backoff`: the waits after failed rounds
        (None: `interval`, cut short by a wake-up like any other wait). `wake_on`: a commit
        that marked this signal wakes the worker. `expected_failures`: exceptions logged as
        one warning per streak of failures, without a traceback (a server that is down).
        `sleep`: how a backoff or a gap waits (tests record the delays). `min_gap`: a wake-up sooner
        than this many seconds after the last round began waits for the rest of it, so that
        under a stream of commits one round takes on what several brought (quiet, a wake-up
        still runs the round at once)."""
        self.name = name
        self.interval = interval
        self.backoff = backoff
        self.stop_grace = stop_grace
        self.failures = 0  # failed rounds in a row
        self._step = step
        self._wake_on = wake_on
        self._expected_failures = expected_failures
        self._sleep = sleep
        self.min_gap = min_gap
        self._wakeup = Wakeup()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def notify(self) -> None:
        """Wakes the worker now (it runs its next round at once); thread-safe."""
        self._wakeup.notify()

    def start(self) -> None:
        """Starts the loop as a task of the running event loop (no-op when started)."""
        if self._task is not None:
            return
        self._wakeup.bind()
        if self._wake_on is not None:
            self._wake_on.add_listener(self.notify)
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Cancels the loop and waits for it to end, at most `stop_grace` seconds: a step that
        ignores its cancellation is left behind (logged) rather than holding up shutdown."""
        if self._wake_on is not None:
            self._wake_on.remove_listener(self.notify)
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        await asyncio.wait({task}, timeout=self.stop_grace)
        if not task.done():
            log.warning("%s did not stop within %gs; left behind", self.name, self.stop_grace)
            task.add_done_callback(_retrieve_outcome)
            return
        if not task.cancelled():
            task.result()  # re-raises what ended the loop, if anything did

    async def _run(self) -> None:
        while True:
            self._wakeup.clear()  # a notify() from now on wakes the next wait
            began = time.monotonic()
            more_waiting = await self._round()
            if self._task is not asyncio.current_task():
                return  # stopped while its step ignored the cancellation
            if self.failures and self.backoff is not None:
                # A wake-up does not cut a backoff short: what failed gets its rest.
                await self._sleep(self.backoff.delay(self.failures))
            elif not more_waiting:
                await self._wakeup.wait(self.interval)
                rest = began + self.min_gap - time.monotonic()
                if rest > 0:
                    await self._sleep(rest)

    async def _round(self) -> bool:
        """Runs the step once and counts it (a round cut short by stop() is not counted);
        True when it left work for the next round."""
        started = time.perf_counter()
        try:
            more_waiting = await self._step()
        except Exception as exc:
            self._count("failed", started)
            self.failures += 1
            CONSECUTIVE_FAILURES.labels(self.name).set(self.failures)
            self._log_failure(exc)
            return False
        self._count("ok", started)
        LAST_SUCCESS.labels(self.name).set_to_current_time()
        if self.failures:
            log.info("%s resumed after %d failed rounds", self.name, self.failures)
            self.failures = 0
            CONSECUTIVE_FAILURES.labels(self.name).set(0)
        return bool(more_waiting)

    def _count(self, outcome: str, started: float) -> None:
        RUNS.labels(self.name, outcome).inc()
        RUN_SECONDS.labels(self.name).observe(time.perf_counter() - started)

    def _log_failure(self, exc: Exception) -> None:
        if not isinstance(exc, self._expected_failures):
            log.error("%s round failed", self.name, exc_info=exc)
        elif self.failures == 1:
            log.warning("%s round failed, will retry: %s", self.name, exc)


def start_workers(*workers: Worker | None) -> None:
    """Starts each worker (None: one its settings disabled)."""
    for worker in workers:
        if worker is not None:
            worker.start()


async def stop_workers(*workers: Worker | None) -> None:
    """Stops the workers together, so that stopping several takes as long as the slowest."""
    await asyncio.gather(*(worker.stop() for worker in workers if worker is not None))


def _retrieve_outcome(task: asyncio.Task[None]) -> None:
    # Retrieves an abandoned loop's outcome so asyncio does not log it as never retrieved.
    if not task.cancelled():
        task.exception()
