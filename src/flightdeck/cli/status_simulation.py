"""`flightdeck simulate-status`: plays a realistic day of status updates for the flights of a
date into the external status feed (the signed webhook or the Kafka topic), for demos.

Each flight still `scheduled` or `on_time` gets a story: most leave on time (on time, boarding
at a gate, departed, arrived), some are delayed (a first estimate, a later one, then the same
progression), some change gate, and one is cancelled after a delay. The updates of all flights
are interleaved in the order they would happen around each departure. `seed` makes a run
reproducible.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from flightdeck.flights.airports import to_local
from flightdeck.flights.status.feed import signed_headers
from flightdeck.platform.clock import utcnow

PLAYABLE_STATUSES = frozenset({"scheduled", "on_time"})
SOURCE = "simulator"
PAGE_SIZE = 100


class SimulationError(Exception):
    """A problem the operator can fix (server unreachable, bad secret, ...): printed as is."""


class DestinationUnreachable(SimulationError):
    """The webhook server or the broker cannot be reached: the run stops."""


@dataclass(frozen=True)
class PlayableFlight:
    flight_number: str
    service_date: dt.date
    origin: str
    departure: dt.datetime  # aware, local offset at the origin
    status: str


@dataclass(order=True)
class PlannedUpdate:
    at: dt.datetime  # when it would happen in the day (ordering only)
    order: int
    message: dict[str, Any] = field(compare=False)

    @property
    def summary(self) -> str:
        m = self.message
        extra = f" +{m['delay_minutes']}m" if m.get("delay_minutes") else ""
        gate = f" gate {m['gate']}" if m.get("gate") else ""
        return f"{m['flight_number']} {m['date']}: {m['status']}{extra}{gate}"


def _gate(rng: random.Random) -> str:
    return f"{rng.choice('ABCD')}{rng.randint(1, 40)}"


def _message(flight: PlayableFlight, status: str, **fields: Any) -> dict[str, Any]:
    return {
        "flight_number": flight.flight_number,
        "date": flight.service_date.isoformat(),
        "status": status,
        **{k: v for k, v in fields.items() if v is not None},
        "source": SOURCE,
    }


def _delayed(flight: PlayableFlight, minutes: int, remark: str) -> dict[str, Any]:
    estimate = flight.departure + dt.timedelta(minutes=minutes)
    return _message(
        flight, "delayed", delay_minutes=minutes, estimated_departure=estimate.isoformat(),
        remark=remark,
    )  # fmt: skip


def flight_story(
    flight: PlayableFlight, kind: str, rng: random.Random
) -> list[tuple[int, dict[str, Any]]]:
    """(minutes relative to scheduled departure, message) for one flight's day."""
    gate = _gate(rng)
    if kind == "cancelled":
        return [
            (-120, _delayed(flight, rng.choice((60, 90)), "Technical inspection")),
            (-60, _message(flight, "cancelled", remark="Cancelled: aircraft unserviceable")),
        ]
    story: list[tuple[int, dict[str, Any]]] = []
    delay = 0
    if kind == "delayed":
        delay = rng.choice((20, 35, 45, 60))
        story.append((-150, _delayed(flight, delay, "Late inbound aircraft")))
        delay += rng.choice((10, 15, 25))
        story.append((-75, _delayed(flight, delay, "New estimate")))
    else:
        story.append((-150, _message(flight, "on_time", gate=gate)))
    if kind == "gate_change":
        gate = _gate(rng)
        story.append(
            (-70, _message(flight, "on_time", gate=gate, remark=f"Gate changed to {gate}"))
        )
    story.append((delay - 40, _message(flight, "boarding", gate=gate)))
    story.append((delay + 5, _message(flight, "departed", delay_minutes=delay)))
    story.append((delay + 180, _message(flight, "arrived", delay_minutes=delay)))
    return story


def plan_day(flights: Sequence[PlayableFlight], seed: int | None = None) -> list[PlannedUpdate]:
    """Every playable flight's story, interleaved by when each update would happen."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    playable = sorted(
        (f for f in flights if f.status in PLAYABLE_STATUSES), key=lambda f: f.departure
    )
    if not playable:
        return []
    # One cancellation in the day, unless the day has a single flight to tell about.
    cancelled = rng.randrange(len(playable)) if len(playable) > 1 else -1
    plan: list[PlannedUpdate] = []
    for index, flight in enumerate(playable):
        if index == cancelled:
            kind = "cancelled"
        else:
            kind = rng.choices(("on_time", "delayed", "gate_change"), weights=(6, 3, 2))[0]
        for minutes, message in flight_story(flight, kind, rng):
            at = flight.departure + dt.timedelta(minutes=minutes)
            plan.append(PlannedUpdate(at, len(plan), message))
    return sorted(plan)


# --- the flights of a date -----------------------------------------------------------------


def _playable(item: dict[str, Any]) -> PlayableFlight:
    return PlayableFlight(
        flight_number=item["flight_number"],
        service_date=dt.date.fromisoformat(item["service_date"]),
        origin=item["origin"],
        departure=dt.datetime.fromisoformat(item["departure_time"]),
        status=item["status"],
    )


async def _flights_on(http: httpx.AsyncClient, day: dt.date) -> list[PlayableFlight]:
    flights: list[PlayableFlight] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"date": day.isoformat(), "limit": PAGE_SIZE}
        if cursor:
            params["cursor"] = cursor
        response = await http.get("/flights", params=params)
        if response.status_code != 200:
            raise SimulationError(f"GET /flights answered {response.status_code}: {response.text}")
        body = response.json()
        flights += [_playable(item) for item in body["items"]]
        cursor = body.get("next_cursor")
        if not cursor:
            return flights


async def load_flights(api_url: str, day: dt.date | None) -> list[PlayableFlight]:
    """The flights of `day` (service date), or of today at each flight's origin."""
    async with httpx.AsyncClient(base_url=api_url, timeout=10) as http:
        try:
            if day is not None:
                return await _flights_on(http, day)
            today = utcnow().date()
            candidates = [
                flight
                for offset in (-1, 0, 1)
                for flight in await _flights_on(http, today + dt.timedelta(days=offset))
            ]
        except httpx.HTTPError as exc:
            raise SimulationError(f"cannot reach {api_url}: {exc}") from exc
    return [f for f in candidates if f.service_date == to_local(utcnow(), f.origin).date()]


# --- where the updates go ------------------------------------------------------------------


class UpdateSender(Protocol):
    async def __aenter__(self) -> UpdateSender: ...

    async def __aexit__(self, *exc_info: object) -> None: ...

    async def send(self, message: dict[str, Any]) -> None:
        """Delivers one update; raises SimulationError with a readable reason."""
        ...


class WebhookSender:
    """POSTs each update, signed, to `<url>/flights/status-feed`."""

    def __init__(self, url: str, secret: str) -> None:
        if not secret:
            raise SimulationError("the webhook needs --secret (the server's status_feed_secret)")
        self._url, self._secret = url.rstrip("/"), secret
        self._http = httpx.AsyncClient(base_url=self._url, timeout=10)

    async def __aenter__(self) -> WebhookSender:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._http.aclose()

    async def send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message).encode()
        try:
            response = await self._http.post(
                "/flights/status-feed", content=body, headers=signed_headers(self._secret, body)
            )
        except httpx.HTTPError as exc:
            raise DestinationUnreachable(f"cannot reach {self._url}: {exc}") from exc
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                reason = f"{error['code']}: {error['message']}"
            except (ValueError, KeyError, TypeError):
                reason = response.text[:200]
            raise SimulationError(f"{response.status_code} {reason}")


class KafkaSender:
    """Produces each update to the status feed topic, keyed by flight number."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        if not bootstrap_servers:
            raise SimulationError("Kafka needs --bootstrap-servers host:port")
        self._topic = topic
        self._servers = bootstrap_servers
        self._producer: Any = None  # created in the event loop that uses it

    async def __aenter__(self) -> KafkaSender:
        from aiokafka import AIOKafkaProducer
        from aiokafka.errors import KafkaError

        self._producer = AIOKafkaProducer(
            bootstrap_servers=self._servers, acks="all", enable_idempotence=False,
            request_timeout_ms=5000,
        )  # fmt: skip
        try:
            await self._producer.start()
        except KafkaError as exc:
            await self._producer.stop()
            raise DestinationUnreachable(f"cannot reach Kafka at {self._servers}: {exc}") from exc
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._producer.stop()

    async def send(self, message: dict[str, Any]) -> None:
        from aiokafka.errors import KafkaError

        key = f"{message['flight_number']}:{message['date']}".encode()
        try:
            await self._producer.send_and_wait(self._topic, json.dumps(message).encode(), key=key)
        except KafkaError as exc:
            raise SimulationError(f"Kafka refused the update: {exc}") from exc


@dataclass
class SimulationResult:
    sent: list[PlannedUpdate] = field(default_factory=list)
    failed: list[tuple[PlannedUpdate, str]] = field(default_factory=list)


async def play(
    plan: Sequence[PlannedUpdate],
    sender: UpdateSender,
    *,
    speed: float,
    on_update: Callable[[PlannedUpdate, str | None], None] | None = None,
) -> SimulationResult:
    """Sends the updates in order, `speed` seconds apart; a refused one is reported and the
    day goes on (the next updates of that flight may be refused too)."""
    result = SimulationResult()
    async with sender:
        for index, update in enumerate(plan):
            if index and speed > 0:
                await asyncio.sleep(speed)
            try:
                await sender.send(update.message)
            except DestinationUnreachable:
                raise
            except SimulationError as exc:
                result.failed.append((update, str(exc)))
                if on_update is not None:
                    on_update(update, str(exc))
                continue
            result.sent.append(update)
            if on_update is not None:
                on_update(update, None)
    return result
