"""A month of an airline's life, built through the API from a seed: flights on four routes
(one priced in EUR), bookings of one to three passengers (some over a connection), payments,
cancellations by passengers, staff and the airline (refunds paid by the refund worker, one
of them a late 50 % refund split over two flights), holds that run out, and the flights'
departures and arrivals (delays, one diversion, some flights not flown yet).

`Ledger` keeps what was done, in plain Python, for month_expected.py to compute what every
report must say without asking the server.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from flightdeck.bookings.sweeper import release_expired_holds
from flightdeck.platform.clock import clock, utcnow
from flightdeck.platform.security.tokens import issue_access_token
from tests.bookings.factories import traveller
from tests.conftest import TestUser, create_user
from tests.payments.factories import card, settle_refunds

SEED = 20260301
DAYS = 28
FLIGHT_DAYS = range(0, DAYS, 3)  # ten days with flights, three days apart


@dataclass(frozen=True)
class Route:
    number: str
    origin: str
    destination: str
    departs: tuple[int, int]  # UTC hour, minute: mid-morning local, so local date = UTC date
    minutes: int
    currency: str
    fares: dict[str, int]  # cabin -> fare per passenger


ROUTES = (
    Route("FD101", "JFK", "LHR", (15, 0), 420, "USD", {"economy": 45_011, "business": 250_003}),
    Route("FD202", "LHR", "CDG", (9, 0), 75, "EUR", {"economy": 12_007, "business": 40_009}),
    Route("FD301", "JFK", "ORD", (14, 0), 150, "USD", {"economy": 23_333, "business": 90_001}),
    Route("FD302", "ORD", "SFO", (18, 0), 270, "USD", {"economy": 41_111, "business": 120_007}),
)
CAPACITY = {"economy": 12, "business": 4}
DELAYS = (-4, 0, 3, 9, 14, 15, 21, 38, 64, 120)
BLOCK_TIME_CHANGES = (-12, -3, 0, 2, 7, 16)  # arrival delay minus departure delay


@dataclass
class FlightFact:
    id: str
    route: Route
    service_date: date
    departure_at: datetime
    arrival_at: datetime
    status: str = "scheduled"
    departure_delay: int | None = None
    arrival_delay: int | None = None
    diverted: bool = False


@dataclass
class BookingFact:
    id: str
    owner: TestUser
    flights: list[FlightFact]
    cabin: str
    passengers: int
    paid: bool = False
    outcome: str = "kept"  # kept, passenger, staff, airline, expired
    refund: int = 0

    @property
    def currency(self) -> str:
        return self.flights[0].route.currency

    @property
    def amounts(self) -> list[int]:
        return [f.route.fares[self.cabin] * self.passengers for f in self.flights]


@dataclass
class Ledger:
    first_day: date
    flights: list[FlightFact] = field(default_factory=list)
    bookings: list[BookingFact] = field(default_factory=list)

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=DAYS - 1)

    @property
    def last_flight_day(self) -> date:
        """Its flights have not flown yet when the reports are read."""
        return self.first_day + timedelta(days=max(FLIGHT_DAYS))


def headers(app: FastAPI, user: TestUser) -> dict[str, str]:
    """A token valid at the (possibly moved) clock."""
    token, _ = issue_access_token(app.state.settings, user.id, user.role)
    return {"Authorization": f"Bearer {token}"}


async def _create_flights(client: httpx.AsyncClient, staff: dict[str, str], ledger: Ledger) -> None:
    for offset in FLIGHT_DAYS:
        day = ledger.first_day + timedelta(days=offset)
        for route in ROUTES:
            departure = datetime(day.year, day.month, day.day, *route.departs, tzinfo=UTC)
            arrival = departure + timedelta(minutes=route.minutes)
            body = {
                "flight_number": route.number,
                "origin": route.origin,
                "destination": route.destination,
                "departure_time": departure.isoformat(),
                "arrival_time": arrival.isoformat(),
                "aircraft": "A321",
                "cabins": {
                    cabin: {
                        "seats": CAPACITY[cabin],
                        "fare": {"amount": fare, "currency": route.currency},
                    }
                    for cabin, fare in route.fares.items()
                },
            }
            response = await client.post("/flights", json=body, headers=staff)
            assert response.status_code == 201, response.text
            ledger.flights.append(FlightFact(response.json()["id"], route, day, departure, arrival))


def _itinerary(rng: random.Random, ledger: Ledger) -> list[FlightFact]:
    """One flight, or FD301 then FD302 on the same day (a connection at ORD)."""
    if rng.random() < 0.25:
        day = rng.choice(list(FLIGHT_DAYS))
        by_number = {
            f.route.number: f
            for f in ledger.flights
            if f.service_date == ledger.first_day + timedelta(days=day)
        }
        return [by_number["FD301"], by_number["FD302"]]
    return [rng.choice(ledger.flights)]


async def _book(
    client: httpx.AsyncClient, app: FastAPI, rng: random.Random, ledger: Ledger, owner: TestUser
) -> BookingFact | None:
    flights = _itinerary(rng, ledger)
    cabin = "business" if rng.random() < 0.25 else "economy"
    passengers = rng.randint(1, 3)
    body = {
        "segments": [f.id for f in flights],
        "cabin": cabin,
        "passengers": [traveller(i) for i in range(passengers)],
    }
    response = await client.post("/bookings", json=body, headers=headers(app, owner))
    if response.status_code == 409:  # sold out: the seed simply moves on
        return None
    assert response.status_code == 201, response.text
    booking = BookingFact(response.json()["id"], owner, flights, cabin, passengers)
    ledger.bookings.append(booking)
    return booking


async def _pay(client: httpx.AsyncClient, app: FastAPI, booking: BookingFact) -> None:
    response = await client.post(
        "/payments",
        json={"booking_id": booking.id, "method": card()},
        headers=headers(app, booking.owner),
    )
    assert response.status_code == 201 and response.json()["status"] == "succeeded", response.text
    booking.paid = True


async def _cancel(
    client: httpx.AsyncClient, booking: BookingFact, by: dict[str, str], outcome: str
) -> None:
    response = await client.delete(f"/bookings/{booking.id}", headers=by)
    assert response.status_code == 200, response.text
    refund = response.json()["refund"]
    booking.outcome, booking.refund = outcome, refund["amount"] if refund else 0


async def _book_and_settle(
    client: httpx.AsyncClient,
    app: FastAPI,
    rng: random.Random,
    ledger: Ledger,
    owners: list[TestUser],
    agent: TestUser,
) -> None:
    """Bookings paid and kept, or cancelled by their passenger or by staff, paid or not."""
    for _ in range(46):
        owner = rng.choice(owners)
        booking = await _book(client, app, rng, ledger, owner)
        if booking is None:
            continue
        roll = rng.random()
        if roll < 0.8:
            await _pay(client, app, booking)
        if 0.6 <= roll < 0.7 or roll >= 0.9:
            await _cancel(client, booking, headers(app, owner), "passenger")
        elif 0.7 <= roll < 0.8:
            await _cancel(client, booking, headers(app, agent), "staff")


async def _cancel_a_flight(
    client: httpx.AsyncClient, app: FastAPI, ledger: Ledger, agent: TestUser
) -> None:
    """The airline cancels the EUR flight with the most active bookings."""

    def active_on(flight: FlightFact) -> list[BookingFact]:
        return [b for b in ledger.bookings if flight in b.flights and b.outcome == "kept"]

    candidates = [f for f in ledger.flights if f.route.number == "FD202"]
    flight = max(candidates, key=lambda f: len(active_on(f)))
    affected = active_on(flight)
    response = await client.delete(f"/flights/{flight.id}", headers=headers(app, agent))
    assert response.status_code == 200, response.text
    assert response.json()["affected_bookings"] == len(affected)
    flight.status = "cancelled"
    for booking in affected:
        booking.outcome = "airline"
        booking.refund = sum(booking.amounts) if booking.paid else 0


async def _late_partial_refund(
    client: httpx.AsyncClient, app: FastAPI, rng: random.Random, ledger: Ledger, owner: TestUser
) -> None:
    """A connection on the first day, paid now, cancelled 12 h before it leaves: half back,
    split over its two flights. Holds still pending by then have run out (swept)."""
    first_day = [f for f in ledger.flights if f.service_date == ledger.first_day]
    connection = [f for f in first_day if f.route.number in ("FD301", "FD302")]
    body = {
        "segments": [f.id for f in connection],
        "cabin": "economy",
        "passengers": [traveller(i) for i in range(3)],
    }
    response = await client.post("/bookings", json=body, headers=headers(app, owner))
    assert response.status_code == 201, response.text
    booking = BookingFact(response.json()["id"], owner, connection, "economy", 3)
    ledger.bookings.append(booking)
    await _pay(client, app, booking)
    expiring = [b for b in ledger.bookings if b.outcome == "kept" and not b.paid]
    expiring += [b for b in [await _book(client, app, rng, ledger, owner) for _ in range(5)] if b]
    clock.advance(connection[0].departure_at - timedelta(hours=12) - utcnow())
    assert await release_expired_holds(app.state.sessionmaker, app.state.settings) == len(expiring)
    for booking_ in expiring:
        booking_.outcome = "expired"
    await _cancel(client, booking, headers(app, owner), "passenger")
    assert booking.refund == sum(booking.amounts) * 50 // 100


async def _fly(client: httpx.AsyncClient, app: FastAPI, ledger: Ledger, agent: TestUser) -> None:
    """Departures and arrivals of every flight but the cancelled one and the last day's;
    one flight to ORD is diverted to MDW."""
    rng = random.Random(SEED + 1)
    diverted = next(f for f in ledger.flights if f.route.number == "FD301")
    staff = headers(app, agent)
    for flight in ledger.flights:
        if flight.status == "cancelled" or flight.service_date == ledger.last_flight_day:
            continue
        departure_delay = rng.choice(DELAYS)
        arrival_delay = departure_delay + rng.choice(BLOCK_TIME_CHANGES)
        actual_departure = flight.departure_at + timedelta(minutes=departure_delay)
        steps: list[dict[str, Any]] = [
            {"status": "boarding"},
            {"status": "departed", "actual_departure": actual_departure.isoformat()},
        ]
        if flight is diverted:
            steps.append({"status": "diverted", "diverted_to": "MDW"})
            flight.diverted, flight.status = True, "diverted"
        else:
            arrived = flight.arrival_at + timedelta(minutes=arrival_delay)
            steps.append({"status": "arrived", "actual_arrival": arrived.isoformat()})
            flight.arrival_delay, flight.status = arrival_delay, "arrived"
        flight.departure_delay = departure_delay
        for step in steps:
            response = await client.put(f"/flights/{flight.id}/status", json=step, headers=staff)
            assert response.status_code == 200, response.text


async def seed_month(client: httpx.AsyncClient, app: FastAPI, agent: TestUser) -> Ledger:
    """Builds the month (see the module docstring) and returns what was done."""
    rng = random.Random(SEED)
    ledger = Ledger(first_day=utcnow().date() + timedelta(days=3))
    await _create_flights(client, headers(app, agent), ledger)
    owners = [await create_user(app, "passenger") for _ in range(4)]
    await _book_and_settle(client, app, rng, ledger, owners, agent)
    await _cancel_a_flight(client, app, ledger, agent)
    await _late_partial_refund(client, app, rng, ledger, owners[0])
    await settle_refunds(app)
    await _fly(client, app, ledger, agent)
    return ledger
