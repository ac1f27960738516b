"""The admin bench's data set: an airline's 120 days (half flown, half ahead) of 50,000 flights
and 500,000 bookings with their passengers, payments, refunds and the segments each payment
pays for, written straight into PostgreSQL with COPY (asyncpg) in batches, with a progress bar.

Rows follow the rules the application writes by (sold seats match the bookings that hold them,
a payment's segments add up to it, refunds split in proportion, delays from the actual times),
so the reports read plausible figures; the mix (cancellations, expiries, delays) is seeded.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from flightdeck.flights.airports import get_airport, great_circle_km, local_to_utc
from flightdeck.platform.security.encryption import KeyRing

SEED = 20261202
DAYS = 120
BATCH = 10_000
AIRPORTS = (
    "JFK", "LAX", "ORD", "SFO", "MIA", "BOS", "SEA", "DFW", "ATL", "DEN", "IAD", "LAS",
    "PHX", "MSP", "DTW", "LHR", "CDG", "FRA", "AMS", "MAD", "FCO", "MUC", "ZRH", "DUB",
)  # fmt: skip
EUROPE = frozenset({"LHR", "CDG", "FRA", "AMS", "MAD", "FCO", "MUC", "ZRH", "DUB"})
PNR_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CABINS = {"economy": 150, "business": 20}


@dataclass(frozen=True)
class Flight:
    id: str
    number: str
    origin: str
    destination: str
    service_date: date
    departure_at: datetime
    arrival_at: datetime
    currency: str
    fares: dict[str, int]
    distance_km: int
    status: str


@dataclass
class DataSet:
    flights: list[Flight] = field(default_factory=list)
    sold: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    user_ids: list[str] = field(default_factory=list)
    first_day: date = date(2026, 1, 1)


def _id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def pnr(index: int) -> str:
    letters = []
    for _ in range(6):
        index, digit = divmod(index, len(PNR_ALPHABET))
        letters.append(PNR_ALPHABET[digit])
    return "".join(letters)


def _routes(rng: random.Random, count: int) -> list[tuple[str, str]]:
    pairs = [(a, b) for a in AIRPORTS for b in AIRPORTS if a != b]
    rng.shuffle(pairs)
    return pairs[:count]


def plan_flights(rng: random.Random, total: int, now: datetime) -> DataSet:
    """`total` flights over DAYS days, half before `now`: one flight number per daily service."""
    data = DataSet(first_day=(now - timedelta(days=DAYS // 2)).date())
    per_day = total // DAYS
    routes = _routes(rng, 140)
    services = [
        (f"FD{1000 + n}", routes[n % len(routes)], rng.randint(6 * 60, 22 * 60))
        for n in range(per_day)
    ]
    for offset in range(DAYS):
        day = data.first_day + timedelta(days=offset)
        for number, (origin, destination), minute in services:
            # Local time at the origin, as airlines publish it: one flight per local day.
            departure = local_to_utc(day, time(minute // 60, minute % 60), origin)
            km = great_circle_km(origin, destination)
            block = timedelta(minutes=45 + km * 60 // 800)
            currency = "EUR" if origin in EUROPE and destination in EUROPE else "USD"
            base = 4_000 + km * 9
            flown = departure < now
            status = "cancelled" if rng.random() < 0.02 else ("arrived" if flown else "scheduled")
            data.flights.append(
                Flight(
                    id=_id(rng),
                    number=number,
                    origin=origin,
                    destination=destination,
                    service_date=day,
                    departure_at=departure,
                    arrival_at=departure + block,
                    currency=currency,
                    fares={"economy": base, "business": base * 4 + 1},
                    distance_km=km,
                    status=status,
                )
            )
    return data


def flight_rows(rng: random.Random, data: DataSet, now: datetime) -> Iterator[tuple[Any, ...]]:
    for f in data.flights:
        departure_delay = arrival_delay = actual_departure = actual_arrival = None
        diverted = None
        status = f.status
        if status == "arrived":
            departure_delay = max(-5, int(rng.expovariate(1 / 14)) - 4)
            arrival_delay = departure_delay + rng.randint(-12, 10)
            actual_departure = f.departure_at + timedelta(minutes=departure_delay)
            actual_arrival = f.arrival_at + timedelta(minutes=arrival_delay)
            if rng.random() < 0.005:
                status, diverted, arrival_delay = "diverted", "DEN", None
                actual_arrival = None
        yield (
            f.number, f.service_date, f.service_date, f.origin, f.destination,
            get_airport(f.destination).country, f.departure_at,
            f.arrival_at, "A321", None, f.distance_km, status, None, actual_departure, None,
            actual_arrival,
            max(departure_delay or 0, 0), None, None, diverted, now, departure_delay,
            arrival_delay, f.id, now, now,
        )  # fmt: skip


FLIGHT_COLUMNS = (
    # Single-leg flights: the flight date is the service date.
    "flight_number", "service_date", "flight_date", "origin", "destination",
    "destination_country", "departure_at",
    "arrival_at", "aircraft", "schedule_id", "distance_km", "status", "estimated_departure_at",
    "actual_departure_at", "estimated_arrival_at", "actual_arrival_at", "delay_minutes", "gate",
    "terminal", "diverted_to", "status_updated_at", "departure_delay_minutes",
    "arrival_delay_minutes", "id", "created_at", "updated_at",
)  # fmt: skip
CABIN_COLUMNS = ("flight_id", "cabin", "capacity", "sold", "fare_amount", "fare_currency", "id")
USER_COLUMNS = (
    "email", "password_hash", "full_name", "phone", "role", "notification_preferences",
    "is_active", "token_version", "id", "created_at", "updated_at",
)  # fmt: skip
BOOKING_COLUMNS = (
    "id", "pnr", "user_id", "status", "cabin", "total_amount", "currency", "hold_expires_at",
    "payment_id", "confirmed_at", "cancelled_at", "cancellation_reason", "refund_amount",
    "expired_at", "seats_released_at", "created_at", "updated_at",
)  # fmt: skip
SEGMENT_COLUMNS = (
    "booking_id", "position", "flight_id", "flight_number", "origin", "destination",
    "departure_at", "arrival_at", "service_date", "fare_amount", "fare_currency", "seats", "id",
    "outcome",
)  # fmt: skip
PASSENGER_COLUMNS = (
    "booking_id", "position", "first_name", "last_name", "date_of_birth", "passport_number", "id",
)  # fmt: skip
PAYMENT_COLUMNS = (
    "booking_id", "user_id", "pnr", "amount", "currency", "status", "method_type",
    "wallet_provider", "brand", "last4", "exp_month", "exp_year", "failure_code", "gateway",
    "charge_id", "refunded_amount", "refund_id", "idempotency_key", "id", "created_at",
    "updated_at",
)  # fmt: skip
PAYMENT_SEGMENT_COLUMNS = (
    "payment_id", "booking_id", "position", "flight_id", "flight_number", "origin",
    "destination", "service_date", "cabin", "passengers", "distance_km", "currency", "amount",
    "captured_amount", "refunded_amount", "id",
)  # fmt: skip


def split(total: int, weights: Sequence[int]) -> list[int]:
    shares = [total * w // sum(weights) for w in weights]
    for i in range(total - sum(shares)):
        shares[i % len(shares)] += 1
    return shares


@dataclass
class Batch:
    bookings: list[tuple[Any, ...]] = field(default_factory=list)
    references: list[tuple[Any, ...]] = field(default_factory=list)  # (pnr, booking id)
    segments: list[tuple[Any, ...]] = field(default_factory=list)
    passengers: list[tuple[Any, ...]] = field(default_factory=list)
    payments: list[tuple[Any, ...]] = field(default_factory=list)
    payment_segments: list[tuple[Any, ...]] = field(default_factory=list)

    def tables(self) -> list[tuple[str, Sequence[str], list[tuple[Any, ...]]]]:
        return [
            ("bookings", BOOKING_COLUMNS, self.bookings),
            ("booking_references", ("pnr", "booking_id"), self.references),
            ("booking_segments", SEGMENT_COLUMNS, self.segments),
            ("booking_passengers", PASSENGER_COLUMNS, self.passengers),
            ("payments", PAYMENT_COLUMNS, self.payments),
            ("payment_segments", PAYMENT_SEGMENT_COLUMNS, self.payment_segments),
        ]


class BookingMaker:
    """One booking at a time, with its segments, passengers, payment and payment segments."""

    def __init__(self, rng: random.Random, data: DataSet, now: datetime, ring: KeyRing) -> None:
        self.rng, self.data, self.now = rng, data, now
        self.births = [ring.encrypt(f"19{50 + i}-0{1 + i % 9}-1{i % 10}") for i in range(40)]
        by_day: dict[tuple[date, str], list[Flight]] = defaultdict(list)
        for flight in data.flights:
            by_day[flight.service_date, flight.currency].append(flight)
        self.by_day = by_day

    def _itinerary(self) -> list[Flight]:
        first = self.rng.choice(self.data.flights)
        if self.rng.random() < 0.1:
            same_day = self.by_day[first.service_date, first.currency]
            second = self.rng.choice(same_day)
            if second is not first:
                return [first, second]
        return [first]

    def _outcome(self, flights: list[Flight]) -> tuple[str, str | None, bool]:
        """(status, cancellation reason, paid)"""
        if any(f.status == "cancelled" for f in flights):
            return "cancelled", "flight_cancelled", self.rng.random() < 0.9
        roll = self.rng.random()
        if roll < 0.08:
            return "cancelled", "cancelled_by_passenger", roll < 0.06
        if roll < 0.10:
            return "cancelled", "cancelled_by_staff", True
        if roll < 0.18:
            return "expired", None, False
        if roll < 0.20 and flights[0].departure_at > self.now:
            return "pending_payment", None, False
        return "confirmed", None, True

    def add(self, index: int, batch: Batch) -> None:
        rng, flights = self.rng, self._itinerary()
        booking_id, user_id = _id(rng), rng.choice(self.data.user_ids)
        cabin = "business" if rng.random() < 0.12 else "economy"
        count = rng.choice((1, 1, 1, 2, 2, 3))
        status, reason, paid = self._outcome(flights)
        first_departure = min(f.departure_at for f in flights)
        created = min(self.now, first_departure - timedelta(hours=rng.randint(2, 60 * 24)))
        amounts = [f.fares[cabin] * count for f in flights]
        total, currency = sum(amounts), flights[0].currency
        refund = total if reason in ("flight_cancelled", "cancelled_by_staff") else total // 2
        refund = refund if paid and status == "cancelled" else 0
        if status in ("confirmed", "pending_payment"):
            for f in flights:
                self.data.sold[f.id, cabin] += count
        changed = created + timedelta(minutes=rng.randint(1, 600))
        outcome = reason if status == "cancelled" else status if status == "expired" else None
        batch.bookings.append((
            booking_id, pnr(index), user_id, status, cabin, total, currency,
            created + timedelta(minutes=15), None, created if paid else None,
            changed if status == "cancelled" else None, reason, refund or None,
            changed if status == "expired" else None,
            changed if status in ("cancelled", "expired") else None, created, changed,
        ))  # fmt: skip
        batch.references.append((pnr(index), booking_id))
        for position, f in enumerate(flights):
            batch.segments.append((
                booking_id, position, f.id, f.number, f.origin, f.destination, f.departure_at,
                f.arrival_at, f.service_date, f.fares[cabin], currency,
                json.dumps([None] * count), _id(rng), outcome,
            ))  # fmt: skip
        for position in range(count):
            batch.passengers.append((
                booking_id, position, f"Pax{position}", f"Traveller{index % 997}",
                rng.choice(self.births), None, _id(rng),
            ))  # fmt: skip
        if paid:
            self._payment(batch, booking_id, user_id, index, flights, cabin, count, amounts, refund)

    def _payment(
        self,
        batch: Batch,
        booking_id: str,
        user_id: str,
        index: int,
        flights: list[Flight],
        cabin: str,
        count: int,
        amounts: list[int],
        refund: int,
    ) -> None:
        payment_id, total, currency = _id(self.rng), sum(amounts), flights[0].currency
        status = "succeeded"
        if refund:
            status = "refunded" if refund == total else "partially_refunded"
        batch.payments.append((
            booking_id, user_id, pnr(index), total, currency, status, "card", None, "visa",
            "4242", 12, 2030, None, "sandbox", f"ch_{payment_id[:18]}", refund,
            f"re_{payment_id[:18]}" if refund else None, None, payment_id, self.now, self.now,
        ))  # fmt: skip
        for position, (f, amount, share) in enumerate(
            zip(flights, amounts, split(refund, amounts), strict=True)
        ):
            batch.payment_segments.append((
                payment_id, booking_id, position, f.id, f.number, f.origin, f.destination,
                f.service_date, cabin, count, f.distance_km, currency, amount, amount, share,
                _id(self.rng),
            ))  # fmt: skip


async def _copy(
    conn: asyncpg.Connection, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    if rows:
        await conn.copy_records_to_table(table, records=rows, columns=list(columns))


async def load(dsn: str, ring: KeyRing, password_hash: str, flights: int, bookings: int) -> DataSet:
    """Generates and COPYs the whole data set; returns what the bench needs to know of it."""
    rng = random.Random(SEED)  # noqa: S311 - reproducible test data, not secrets
    now = datetime.now(UTC).replace(microsecond=0)
    data = plan_flights(rng, flights, now)
    conn = await asyncpg.connect(dsn)
    try:
        with Progress(
            TextColumn("{task.description:<18}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        ) as bar:
            await _load_users(conn, bar, rng, data, password_hash, now)
            step = bar.add_task("flights", total=len(data.flights))
            rows = list(flight_rows(rng, data, now))
            for start in range(0, len(rows), BATCH):
                await _copy(conn, "flights", FLIGHT_COLUMNS, rows[start : start + BATCH])
                bar.advance(step, len(rows[start : start + BATCH]))
            await _load_bookings(conn, bar, BookingMaker(rng, data, now, ring), bookings)
            await _load_cabins(conn, bar, rng, data)
            # What autovacuum does after a load: statistics and the visibility map.
            analyze = bar.add_task("vacuum analyze", total=1)
            await conn.execute("VACUUM ANALYZE")
            bar.advance(analyze)
    finally:
        await conn.close()
    return data


async def _load_users(
    conn: asyncpg.Connection,
    bar: Progress,
    rng: random.Random,
    data: DataSet,
    password_hash: str,
    now: datetime,
) -> None:
    count = 20_000
    step = bar.add_task("users", total=count)
    prefs = json.dumps({"email": True, "push": True})
    rows = []
    for n in range(count):
        user_id = _id(rng)
        data.user_ids.append(user_id)
        rows.append((
            f"traveller{n}@bench.example", password_hash, f"Traveller {n}", None, "passenger",
            prefs, True, 0, user_id, now - timedelta(days=n % 365), now,
        ))  # fmt: skip
    for start in range(0, count, BATCH):
        await _copy(conn, "users", USER_COLUMNS, rows[start : start + BATCH])
        bar.advance(step, BATCH)


async def _load_bookings(
    conn: asyncpg.Connection, bar: Progress, maker: BookingMaker, count: int
) -> None:
    step = bar.add_task("bookings+payments", total=count)
    batch = Batch()
    for index in range(count):
        maker.add(index, batch)
        if len(batch.bookings) >= BATCH or index == count - 1:
            for table, columns, rows in batch.tables():
                await _copy(conn, table, columns, rows)
            bar.advance(step, len(batch.bookings))
            batch = Batch()


async def _load_cabins(
    conn: asyncpg.Connection, bar: Progress, rng: random.Random, data: DataSet
) -> None:
    step = bar.add_task("flight cabins", total=len(data.flights))
    rows = []
    for flight in data.flights:
        for cabin, capacity in CABINS.items():
            sold = 0 if flight.status == "cancelled" else data.sold[flight.id, cabin]
            rows.append((
                flight.id, cabin, max(capacity, sold), sold, flight.fares[cabin],
                flight.currency, _id(rng),
            ))  # fmt: skip
        if len(rows) >= BATCH:
            await _copy(conn, "flight_cabins", CABIN_COLUMNS, rows)
            bar.advance(step, len(rows) // 2)
            rows = []
    await _copy(conn, "flight_cabins", CABIN_COLUMNS, rows)
    bar.advance(step, len(rows) // 2)
