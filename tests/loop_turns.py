"""Counting the event loop's turns: what a step waits for under load is the turns it takes,
each as long as everything else the loop runs in it."""

from __future__ import annotations

import asyncio


class LoopTurns:
    """Counts the event loop's turns from `start` to `stop` (a callback that schedules
    itself once per turn)."""

    def __init__(self) -> None:
        self._turns = 0
        self._counting = False

    def _tick(self) -> None:
        if self._counting:
            self._turns += 1
            asyncio.get_running_loop().call_soon(self._tick)

    def start(self) -> None:
        self._counting = True
        asyncio.get_running_loop().call_soon(self._tick)

    def stop(self) -> int:
        self._counting = False
        return self._turns
