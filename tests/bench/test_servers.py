"""The benches' CPU accounting (bench/servers.py): what a request costs is read from /proc
for the server's processes and PostgreSQL's, so these must find the right processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.servers.postgres import fetch_rows, running_postgres

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from servers import cpu_seconds, database_pids  # bench/, put on the path just above

_BUSY = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"


def test_cpu_seconds_counts_a_process_and_the_children_it_reaped() -> None:
    before = cpu_seconds([os.getpid()])
    subprocess.run([sys.executable, "-c", _BUSY], check=True)  # a child, run and reaped
    assert cpu_seconds([os.getpid()]) - before >= 0.25
    assert cpu_seconds([]) == 0.0


def test_database_pids_finds_the_postgresql_server_whose_work_it_counts(tmp_path: Path) -> None:
    assert database_pids({"FLIGHTDECK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db"}) == []
    with running_postgres() as server:
        url = server.url()
        [postmaster] = database_pids({"FLIGHTDECK_DATABASE_URL": url})
        assert postmaster == int((server.data_dir / "postmaster.pid").read_text().split()[0])
        before = cpu_seconds([postmaster])
        asyncio.run(fetch_rows(url, "SELECT count(*) FROM generate_series(1, 3000000)"))
        # A backend's work, counted. The backend exits after the client has gone, and for a
        # moment (exiting, not yet reaped by the postmaster) /proc may show its time nowhere:
        # CI once read the same 0.02 s before and after.
        deadline = time.monotonic() + 5
        while (counted := cpu_seconds([postmaster]) - before) < 0.05:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert counted >= 0.05
