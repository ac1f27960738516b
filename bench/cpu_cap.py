"""A CPU cap for a bench's server: how "scaling with --workers 2" is measured on a machine with
fewer cores than the workers, the database and the load generator need together.

``capped(pid, cores)`` puts a process and its descendants (a server and its workers) in a
control group of their own whose CPU quota is ``cores`` (0.5: half of one core per 100 ms),
and takes them out again afterwards. Give a server of N workers N times one worker's share,
and compare: when holds/s follow the cores given, the workers scale; the database and wrk run
outside the cap, on what is left. Linux only, as root: cgroup v2 (``cpu.max``) or v1's cpu
controller (``cpu.cfs_quota_us``), whichever this machine mounts; a readable SystemExit
otherwise. Nothing else of the machine is capped: this process is never put in the group.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from servers import process_tree

_PERIOD_US = 100_000
_V2 = Path("/sys/fs/cgroup")
_V1 = Path("/sys/fs/cgroup/cpu")


def _hierarchy() -> tuple[Path, bool]:
    """Where CPU groups are made here, and whether it is cgroup v2."""
    controllers = _V2 / "cgroup.controllers"
    if controllers.exists() and "cpu" in controllers.read_text().split():
        return _V2, True
    if (_V1 / "cpu.cfs_quota_us").exists():
        return _V1, False
    raise SystemExit("--worker-cores needs Linux cgroups with the cpu controller (none found)")


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except ProcessLookupError:  # a process that ended before it was moved
        if path.name != "cgroup.procs":
            raise
    except OSError as exc:
        raise SystemExit(
            f"--worker-cores: cannot write {path}: {exc.strerror} (it takes root, and a cgroup"
            " hierarchy this process may write: not a container's read-only one)"
        ) from exc


@contextlib.contextmanager
def capped(pid: int, cores: float | None) -> Iterator[None]:
    """Process `pid` and its descendants limited to `cores` of CPU while the block runs (no
    limit when `cores` is None)."""
    if cores is None:
        yield
        return
    root, v2 = _hierarchy()
    group = root / f"flightdeck-bench-{os.getpid()}-{pid}"
    quota = max(int(cores * _PERIOD_US), 1_000)
    if v2:
        _write(root / "cgroup.subtree_control", "+cpu")
    group.mkdir()
    try:
        if v2:
            _write(group / "cpu.max", f"{quota} {_PERIOD_US}")
        else:
            _write(group / "cpu.cfs_period_us", str(_PERIOD_US))
            _write(group / "cpu.cfs_quota_us", str(quota))
        for member in process_tree([pid]):  # children started later are born in the group
            _write(group / "cgroup.procs", str(member))
        yield
    finally:
        for member in (group / "cgroup.procs").read_text().split():
            with contextlib.suppress(OSError):  # gone meanwhile
                (root / "cgroup.procs").write_text(member)
        group.rmdir()
