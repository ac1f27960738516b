"""Schemathesis against FlightDeck's own OpenAPI document, on a real server.

`run_schemathesis` runs the `st` command line (what a developer reruns by hand) against a
server, as one identity (an admin token, a passenger token, or none), and reads its NDJSON
report: how many requests each phase sent, and every failure. Every check runs except
`positive_data_acceptance`: it wants every schema-valid request accepted, but business rules
the schema cannot state (an unknown airport code, a flight more than two years out, a seat
already sold) rightly refuse some with a documented 4xx. A 5xx or a response that contradicts
the documented schema (status, content type, headers, body) fails the run.

Deterministic enough not to flake: a fixed seed, Hypothesis' example database off, and in the
suite `--generation-deterministic` (the same cases every run). No check looks at time.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

SKIPPED_CHECKS = ("positive_data_acceptance",)
ALL_PHASES = ("examples", "coverage", "fuzzing", "stateful")


@dataclass(frozen=True)
class Identity:
    name: str
    headers: dict[str, str]


@dataclass
class FuzzRun:
    identity: str
    exit_code: int
    seconds: float
    requests_by_phase: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    output: str = ""

    @property
    def requests(self) -> int:
        return sum(self.requests_by_phase.values())


def schemathesis_command() -> str:
    found = shutil.which("st", path=str(Path(sys.executable).parent))
    assert found, "schemathesis is not installed (make install brings it with the dev extras)"
    return found


def run_schemathesis(
    base_url: str,
    identity: Identity,
    *,
    report_dir: Path,
    max_examples: int,
    phases: tuple[str, ...] = ALL_PHASES,
    seed: int = 20261201,
    deterministic: bool = True,
    workers: int = 1,
) -> FuzzRun:
    """One `st run` as `identity`; what it sent and found."""
    report_dir.mkdir(parents=True, exist_ok=True)
    report = report_dir / f"{identity.name}.ndjson"
    command = [
        schemathesis_command(), "run", f"{base_url}/openapi.json",
        "--checks", "all", "--exclude-checks", ",".join(SKIPPED_CHECKS),
        "--phases", ",".join(phases),
        "--max-examples", str(max_examples),
        "--workers", str(workers),
        "--request-timeout", "300",  # a limit for a hung server, not a speed check
        "--suppress-health-check", "all",
        "--report", "ndjson", "--report-ndjson-path", str(report),
        "--no-color",
    ]  # fmt: skip
    # Deterministic: the same cases every run; otherwise seeded, and no example database
    # carried from one run to the next.
    deterministic_or_seeded = ["--generation-deterministic"] if deterministic else [
        "--seed", str(seed), "--generation-database", "none",
    ]  # fmt: skip
    command += deterministic_or_seeded
    for name, value in identity.headers.items():
        command += ["-H", f"{name}: {value}"]
    started = time.monotonic()
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    run = FuzzRun(identity.name, completed.returncode, time.monotonic() - started)
    run.output = completed.stdout[-20_000:] + completed.stderr[-5_000:]
    assert report.exists(), f"schemathesis wrote no report:\n{run.output}"
    _read_report(report, run)
    return run


def _read_report(report: Path, run: FuzzRun) -> None:
    for line in report.read_text().splitlines():
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if finished is None:
            continue
        recorder = finished.get("recorder") or {}
        run.requests_by_phase[finished["phase"]] += len(recorder.get("interactions") or {})
        for case_id, checks in (recorder.get("checks") or {}).items():
            for check in checks:
                if check.get("status") == "failure":
                    failure = (check.get("failure_info") or {}).get("failure") or {}
                    title = failure.get("title", "")
                    label = f"{recorder.get('label')} [{case_id}]"
                    run.failures.append(f"{label} {check['name']}: {title}")
