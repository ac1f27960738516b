"""The hold bench's CPU cap (bench/cpu_cap.py, `--worker-cores`): a server and its workers are
limited to the cores given, and given back whole afterwards; nothing else is capped."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import cpu_cap  # bench/, put on the path just above

from bookings import _cores
from servers import process_tree

# A parent whose child spins until it is killed: a server and its worker.
_TREE = (
    "import subprocess, sys\n"
    "subprocess.run([sys.executable, '-c', 'while True: pass'])\n"
)  # fmt: skip


def _wait_for(condition: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _groups(pid: int) -> str:
    return Path(f"/proc/{pid}/cgroup").read_text()


def test_a_capped_server_and_its_workers_are_throttled_then_given_back() -> None:
    parent = subprocess.Popen([sys.executable, "-c", _TREE])
    try:
        _wait_for(lambda: len(process_tree([parent.pid])) == 2, "the child never started")
        tree = process_tree([parent.pid])
        root, _ = cpu_cap._hierarchy()
        group = root / f"flightdeck-bench-{os.getpid()}-{parent.pid}"
        with cpu_cap.capped(parent.pid, 0.05):
            assert all(group.name in _groups(pid) for pid in tree)
            assert group.name not in _groups(os.getpid())  # the bench itself is not capped

            def throttled() -> bool:
                stat = dict(line.split() for line in (group / "cpu.stat").read_text().splitlines())
                return int(stat["nr_throttled"]) > 0

            _wait_for(throttled, "a spinning child at 5 % of a core was never throttled")
        assert not group.exists()
        assert all(group.name not in _groups(pid) for pid in tree)
    finally:
        for pid in process_tree([parent.pid])[::-1]:
            os.kill(pid, 9)
        parent.wait()


def test_no_cap_makes_no_group() -> None:
    root, _ = cpu_cap._hierarchy()
    before = sorted(root.glob("flightdeck-bench-*"))
    with cpu_cap.capped(os.getpid(), None):
        assert sorted(root.glob("flightdeck-bench-*")) == before
    assert "flightdeck-bench" not in _groups(os.getpid())


@pytest.mark.parametrize("text", ["0", "-1", "x", "nan", "inf", "2000"])
def test_worker_cores_must_be_a_sensible_share_of_cores(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        _cores(text)


def test_worker_cores_take_a_share_or_several_cores() -> None:
    assert (_cores("0.5"), _cores("2")) == (0.5, 2.0)


def test_a_group_that_cannot_be_written_is_a_readable_exit() -> None:
    with pytest.raises(SystemExit, match=r"cannot write /proc/version: .*takes root"):
        cpu_cap._write(Path("/proc/version"), "1")
