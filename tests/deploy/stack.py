"""FlightDeck as the deploy files run it, on this machine: each service alone in its own
`flightdeck serve --services <name>` processes (as many instances as asked), all sharing one
PostgreSQL (and its replica), Redis and Kafka, behind the real gateway (deploy/nginx.conf
rendered with local upstreams, tests/deploy/gateway.py).

    with running_stack(env, {"bookings": 2, "search": 1}, run_dir) as stack:
        httpx.get(f"{stack.gateway}/search", ...)
        stack.instances["bookings"][0].kill()

The instances start in parallel (they take seconds each to import, on 2 cores). Used by the
scale-out tests (tests/deploy/test_scale_out.py) and `make bench-scale`.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.deploy.gateway import render_gateway_config, running_gateway
from tests.servers.flightdeck_app import AppProcess, start_app
from tests.servers.process import free_port

SERVE = (sys.executable, "-m", "flightdeck", "serve")
# Start-up of many instances at once on a loaded 2-core machine: seconds of imports each.
READY_TIMEOUT_SECONDS = 180.0
# The gateway's per-address flood limits, lifted: every test client comes from 127.0.0.1, and
# these tests measure the services' own limits (shared through Redis), not the gateway's.
UNLIMITED_GATEWAY = {
    "rate=30r/s": "rate=100000r/s",
    "rate=2r/s": "rate=100000r/s",
    "burst=60 nodelay": "burst=100000 nodelay",
    "burst=10 nodelay": "burst=100000 nodelay",
    "limit_conn connections_per_address 50;": "limit_conn connections_per_address 60000;",
}


@dataclass
class Stack:
    gateway: str  # the gateway's base URL
    instances: dict[str, list[AppProcess]] = field(default_factory=dict)
    run_dir: Path = Path()

    def upstream_log(self) -> str:
        """The gateway's access log (each line names the instance that answered)."""
        return (self.run_dir / "nginx.out").read_text()


def _start_instance(service: str, index: int, env: Mapping[str, str]) -> AppProcess:
    return start_app(
        env,
        argv=[*SERVE, "--services", service],
        name=f"{service} #{index + 1}",
        ready_timeout=READY_TIMEOUT_SECONDS,
    )


@contextlib.contextmanager
def running_stack(
    env: Mapping[str, str],
    layout: Mapping[str, int],
    run_dir: Path,
    *,
    gateway_replacements: Mapping[str, str] | None = None,
) -> Iterator[Stack]:
    """`layout[service]` instances of each service with `env` (FLIGHTDECK_* settings), and the
    gateway in front of them; everything stopped on the way out."""
    with contextlib.ExitStack() as stack:
        wanted = [(service, i) for service, count in layout.items() for i in range(count)]
        with ThreadPoolExecutor(max_workers=len(wanted)) as pool:
            futures = [pool.submit(_start_instance, s, i, env) for s, i in wanted]
            started: list[tuple[str, AppProcess]] = []
            failures: list[BaseException] = []
            for (service, _), future in zip(wanted, futures, strict=True):
                try:
                    started.append((service, future.result()))
                except RuntimeError as exc:
                    failures.append(exc)
        instances: dict[str, list[AppProcess]] = {}
        for service, process in started:
            stack.callback(process.close)
            instances.setdefault(service, []).append(process)
        if failures:
            raise failures[0]
        port = free_port()
        upstreams = {
            service: [f"{p.host}:{p.port}" for p in processes]
            for service, processes in instances.items()
        }
        replacements = {**UNLIMITED_GATEWAY, **(gateway_replacements or {})}
        config = render_gateway_config(
            upstreams, listen_port=port, run_dir=run_dir, replacements=replacements
        )
        gateway = stack.enter_context(running_gateway(config, run_dir, port))
        yield Stack(gateway=gateway, instances=instances, run_dir=run_dir)
