"""WebSocket fan-out benchmark: `make bench-ws` (options: `--clients 5000 --rounds 5`).

Builds a throwaway SQLite database (`flightdeck migrate`, an agent and a passenger with
`flightdeck create-user`), starts `flightdeck serve` on a free port (servers.py; in-process
event bus), creates one flight, and opens N WebSocket clients (default 1000, up to 5000) that
all follow it. Then, round after round, one status change (`PUT /flights/{id}/status`): the
send time is taken just before the PUT, each client's receive time when its `flight.status`
message arrives. Prints, per round and overall, how many clients received it and the
p50/p99/max delivery latency. Every wait is bounded. The clients run in this one process, so
the figures include the time this process needs to read N messages.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from websockets.asyncio.client import ClientConnection, connect

from flightdeck.platform.security.encryption import generate_key_spec
from servers import run_cli, running_flightdeck, sqlite_settings

console = Console()
PASSWORD = "bench-password-123"  # noqa: S105 - a throwaway bench user
MAX_CLIENTS = 5000
CONNECT_CONCURRENCY = 100
CONNECT_TIMEOUT = 180.0  # all clients connected and subscribed within this
ROUND_TIMEOUT = 15.0  # every client has the round's message within this


def _raise_fd_limit(clients: int) -> None:
    """Each client is a socket here and one in the server (a child: inherits the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = clients * 2 + 1024
    if soft < wanted:
        limit = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
        if limit < wanted:
            console.print(f"[yellow]fd limit {limit} < {wanted}: some clients may fail[/yellow]")


@dataclass
class Client:
    socket: ClientConnection
    received: dict[str, float] = field(default_factory=dict)  # event_id → perf_counter


@dataclass
class Round:
    number: int
    sent_at: float = 0.0
    event_id: str = ""
    latencies: list[float] = field(default_factory=list)  # ms


async def _read(client: Client, arrivals: asyncio.Queue[None]) -> None:
    with suppress(Exception):
        async for raw in client.socket:
            now = time.perf_counter()
            message = json.loads(raw)
            if message.get("type") == "flight.status":
                client.received[message["event_id"]] = now
                arrivals.put_nowait(None)


async def _open_client(ws_url: str, token: str, flight_id: str) -> Client:
    socket_ = await connect(
        f"{ws_url}/ws?token={token}", open_timeout=60, ping_interval=None, max_queue=64
    )
    await asyncio.wait_for(socket_.recv(), 30)  # "connected"
    await socket_.send(json.dumps({"subscribe": f"flight:{flight_id}"}))
    reply = json.loads(await asyncio.wait_for(socket_.recv(), 30))
    if reply.get("type") != "subscribed":
        await socket_.close()
        raise RuntimeError(f"subscribe refused: {reply}")
    return Client(socket_)


async def _open_clients(count: int, ws_url: str, token: str, flight_id: str) -> list[Client]:
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    failures: list[BaseException] = []

    async def one() -> Client | None:
        async with gate:
            try:
                return await _open_client(ws_url, token, flight_id)
            except Exception as exc:
                failures.append(exc)
                return None

    with console.status(f"Connecting {count} WebSocket clients …"):
        started = time.perf_counter()
        opened = await asyncio.wait_for(
            asyncio.gather(*(one() for _ in range(count))), CONNECT_TIMEOUT
        )
    clients = [client for client in opened if client is not None]
    elapsed = time.perf_counter() - started
    console.print(f"{len(clients)} clients connected and subscribed in {elapsed:.1f} s")
    if failures:
        console.print(f"[yellow]{len(failures)} failed to connect, e.g. {failures[0]!r}[/yellow]")
    return clients


async def _login(http: httpx.AsyncClient, email: str) -> str:
    response = await http.post("/login", json={"email": email, "password": PASSWORD})
    response.raise_for_status()
    return str(response.json()["access_token"])


async def _create_flight(http: httpx.AsyncClient, headers: dict[str, str]) -> str:
    body = {
        "flight_number": "FD777",
        "origin": "JFK",
        "destination": "LHR",
        "departure_time": "2030-06-01T18:00:00-04:00",
        "arrival_time": "2030-06-02T06:00:00+01:00",
        "cabins": {"economy": {"seats": 200, "fare": {"amount": 50000, "currency": "USD"}}},
    }
    response = await http.post("/flights", json=body, headers=headers)
    response.raise_for_status()
    return str(response.json()["id"])


async def _play_round(
    http: httpx.AsyncClient,
    headers: dict[str, str],
    flight_id: str,
    clients: list[Client],
    arrivals: asyncio.Queue[None],
    number: int,
    known: set[str],
) -> Round:
    result = Round(number)
    while not arrivals.empty():
        arrivals.get_nowait()
    update = {"status": "delayed", "delay_minutes": 10 + 5 * number, "gate": f"B{number}"}
    result.sent_at = time.perf_counter()
    response = await http.put(f"/flights/{flight_id}/status", json=update, headers=headers)
    response.raise_for_status()
    deadline = time.monotonic() + ROUND_TIMEOUT
    waiting = len(clients)
    while waiting and time.monotonic() < deadline:
        with suppress(TimeoutError):
            await asyncio.wait_for(arrivals.get(), deadline - time.monotonic())
            waiting -= 1
    # The round's event: the one id no earlier round produced.
    fresh = {eid for client in clients for eid in client.received} - known
    result.event_id = next(iter(fresh), "")
    known.update(fresh)
    for client in clients:
        arrived = client.received.get(result.event_id)
        if arrived is not None:
            result.latencies.append((arrived - result.sent_at) * 1000)
    return result


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _figures(latencies: list[float], expected: int) -> list[str]:
    worst = max(latencies, default=float("nan"))
    p50, p99 = _percentile(latencies, 0.5), _percentile(latencies, 0.99)
    return [f"{len(latencies)}/{expected}", f"{p50:.1f}", f"{p99:.1f}", f"{worst:.1f}"]


def _report(rounds: list[Round], clients: int) -> None:
    table = Table(title=f"WebSocket fan-out: {clients} clients, one flight, in-process bus")
    for column in ("round", "received", "p50 ms", "p99 ms", "max ms"):
        table.add_column(column, justify="right")
    every: list[float] = []
    for r in rounds:
        every += r.latencies
        table.add_row(str(r.number), *_figures(r.latencies, clients))
    table.add_row("all", *_figures(every, clients * len(rounds)))
    console.print(table)
    if every:
        console.print(f"mean {statistics.fmean(every):.1f} ms over {len(every)} deliveries")


async def _bench(base_url: str, args: argparse.Namespace) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        agent = {"Authorization": f"Bearer {await _login(http, 'agent@bench.example.com')}"}
        passenger_token = await _login(http, "passenger@bench.example.com")
        flight_id = await _create_flight(http, agent)
        ws_url = base_url.replace("http://", "ws://")
        clients = await _open_clients(args.clients, ws_url, passenger_token, flight_id)
        arrivals: asyncio.Queue[None] = asyncio.Queue()
        readers = [asyncio.create_task(_read(c, arrivals)) for c in clients]
        try:
            rounds: list[Round] = []
            known: set[str] = set()
            for number in range(1, args.rounds + 1):
                played = await _play_round(http, agent, flight_id, clients, arrivals, number, known)
                rounds.append(played)
                await asyncio.sleep(args.pause)
            _report(rounds, len(clients))
        finally:
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*(c.socket.close() for c in clients), return_exceptions=True)


def _settings(workdir: Path) -> dict[str, str]:
    return sqlite_settings(workdir) | {
        "FLIGHTDECK_JWT_SECRET": os.urandom(32).hex(),
        "FLIGHTDECK_ENCRYPTION_KEYS": generate_key_spec("bench"),
        "FLIGHTDECK_WS_HEARTBEAT_SECONDS": "3600",
        "FLIGHTDECK_HOLD_SWEEP_SECONDS": "0",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000, help=f"1..{MAX_CLIENTS}")
    parser.add_argument("--rounds", type=int, default=5, help="status changes to measure")
    parser.add_argument("--pause", type=float, default=0.5, help="seconds between rounds")
    args = parser.parse_args()
    if not 1 <= args.clients <= MAX_CLIENTS:
        parser.error(f"--clients must be between 1 and {MAX_CLIENTS}")
    _raise_fd_limit(args.clients)
    with tempfile.TemporaryDirectory(prefix="flightdeck-bench-ws-") as tmp:
        workdir = Path(tmp)
        settings = _settings(workdir)
        with console.status("Building the database (migrate, an agent and a passenger) …"):
            run_cli("migrate", settings=settings, cwd=workdir)
            for role in ("agent", "passenger"):
                run_cli(
                    "create-user", "--email", f"{role}@bench.example.com", "--password", PASSWORD,
                    "--role", role, settings=settings, cwd=workdir,
                )  # fmt: skip
        with running_flightdeck(settings) as server:
            asyncio.run(_bench(server.base_url, args))


if __name__ == "__main__":
    main()
