"""What every report must say about the seeded month, computed here in plain Python from
the ledger of what the test did (never from the server's tables or code): the rules are the
documented ones (docs/ARCHITECTURE.md, "Reports"), written out again independently.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import Any

import airportsdata

from tests.admin.month_seed import CAPACITY, BookingFact, FlightFact, Ledger

GROUPINGS = ("day", "week", "month", "route", "flight", "cabin")
_AIRPORTS = airportsdata.load("IATA")


def distance_km(origin: str, destination: str) -> int:
    """Haversine on a sphere of the mean Earth radius, rounded to whole km."""
    a, b = _AIRPORTS[origin], _AIRPORTS[destination]
    p1, p2 = math.radians(a["lat"]), math.radians(b["lat"])
    dp, dl = p2 - p1, math.radians(b["lon"] - a["lon"])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return round(2 * 6371.0088 * math.asin(math.sqrt(h)))


def key_of(grouping: str | None, flight: FlightFact, cabin: str | None = None) -> str:
    day: date = flight.service_date
    keys: dict[str | None, Callable[[], str]] = {
        None: lambda: "total",
        "day": day.isoformat,
        "week": lambda: (day - timedelta(days=day.weekday())).isoformat(),
        "month": lambda: f"{day:%Y-%m}",
        "route": lambda: f"{flight.route.origin}-{flight.route.destination}",
        "flight": lambda: flight.route.number,
        "cabin": lambda: str(cabin),
    }
    return keys[grouping]()


def ratio(part: int, whole: int, digits: int = 4) -> float:
    return round(part / whole, digits) if whole else 0.0


def money(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


def refund_shares(booking: BookingFact) -> list[int]:
    """Refund split in proportion to the flights' amounts: floors, then a unit each to the
    first flights until it adds up."""
    amounts = booking.amounts
    shares = [booking.refund * a // sum(amounts) for a in amounts]
    for i in range(booking.refund - sum(shares)):
        shares[i % len(shares)] += 1
    return shares


# --- revenue ------------------------------------------------------------------------------


def revenue(ledger: Ledger, grouping: str | None) -> list[dict[str, Any]]:
    sums: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"captured": 0, "refunded": 0, "bookings": 0, "passengers": 0, "rpk": 0}
    )
    for booking in ledger.bookings:
        if not booking.paid:
            continue
        shares = refund_shares(booking)
        for flight, amount, share in zip(booking.flights, booking.amounts, shares, strict=True):
            group = sums[key_of(grouping, flight, booking.cabin), booking.currency]
            group["captured"] += amount
            group["refunded"] += share
            group["bookings"] += flight is booking.flights[0]  # counted on its first flight
            group["passengers"] += booking.passengers
            group["rpk"] += booking.passengers * distance_km(
                flight.route.origin, flight.route.destination
            )
    rows = []
    for (key, currency), group in sorted(sums.items()):
        net = group["captured"] - group["refunded"]
        fare = math.floor(net / group["passengers"] + 0.5)
        rows.append(
            {
                "key": key,
                "currency": currency,
                "captured": money(group["captured"], currency),
                "refunded": money(group["refunded"], currency),
                "revenue": money(net, currency),
                "bookings": group["bookings"],
                "passengers": group["passengers"],
                "average_fare": money(fare, currency),
                "rpk": group["rpk"],
                "yield_per_rpk": ratio(net, group["rpk"], 6),
            }
        )
    return rows


# --- occupancy ----------------------------------------------------------------------------


def _seats_sold(ledger: Ledger, flight: FlightFact, cabin: str) -> int:
    return sum(
        b.passengers
        for b in ledger.bookings
        if flight in b.flights and b.cabin == cabin and b.outcome == "kept"
    )


def occupancy(ledger: Ledger, grouping: str | None) -> list[dict[str, Any]]:
    sums: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"flights": set(), "offered": 0, "sold": 0, "ask": 0, "rpk": 0}
    )
    for flight in ledger.flights:
        if flight.status == "cancelled":
            continue
        km = distance_km(flight.route.origin, flight.route.destination)
        for cabin, capacity in CAPACITY.items():
            sold = _seats_sold(ledger, flight, cabin)
            group = sums[key_of(grouping, flight, cabin)]
            group["flights"].add(flight.id)
            group["offered"] += capacity
            group["sold"] += sold
            group["ask"] += capacity * km
            group["rpk"] += sold * km
    return [
        {
            "key": key,
            "flights": len(group["flights"]),
            "seats_offered": group["offered"],
            "seats_sold": group["sold"],
            "seat_factor": ratio(group["sold"], group["offered"]),
            "ask": group["ask"],
            "rpk": group["rpk"],
            "load_factor": ratio(group["rpk"], group["ask"]),
        }
        for key, group in sorted(sums.items())
    ]


# --- punctuality --------------------------------------------------------------------------


def _p90(delays: list[int]) -> int | None:
    if not delays:
        return None
    ordered = sorted(delays)
    nearest_rank = -(-9 * len(ordered) // 10)  # the ceiling of 0.9 n, in integers
    return ordered[nearest_rank - 1]


def on_time(ledger: Ledger, grouping: str | None) -> list[dict[str, Any]]:
    groups: dict[str, list[FlightFact]] = defaultdict(list)
    for flight in ledger.flights:
        groups[key_of(grouping, flight)].append(flight)
    rows = []
    for key, flights in sorted(groups.items()):
        operated = [f for f in flights if f.departure_delay is not None]
        delays = [max(f.departure_delay or 0, 0) for f in operated]
        arrived = [f for f in operated if f.arrival_delay is not None and not f.diverted]
        completed = len(arrived) + sum(f.diverted for f in flights)
        d15 = sum((f.departure_delay or 0) < 15 for f in operated)
        a15 = sum((f.arrival_delay or 0) < 15 for f in arrived)
        rows.append(
            {
                "key": key,
                "flights": len(flights),
                "operated": len(operated),
                "departed_on_time": d15,
                "d15": ratio(d15, len(operated)),
                "completed": completed,
                "arrived_on_time": a15,
                "a15": ratio(a15, completed),
                "cancelled": sum(f.status == "cancelled" for f in flights),
                "diverted": sum(f.diverted for f in flights),
                "average_delay_minutes": ratio(sum(delays), len(operated), 2),
                "p90_delay_minutes": _p90(delays),
            }
        )
    return rows


# --- cancellations ------------------------------------------------------------------------

CATEGORIES = {
    "airline": "bookings_cancelled_by_airline",
    "staff": "bookings_cancelled_by_staff",
    "passenger": "bookings_cancelled_by_passenger",
    "expired": "holds_expired",
}


def cancellations(ledger: Ledger, grouping: str | None) -> list[dict[str, Any]]:
    flights: dict[str, int] = defaultdict(int)
    bookings: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    refunds: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for flight in ledger.flights:
        if flight.status == "cancelled":
            flights[key_of(grouping, flight)] += 1
    for booking in ledger.bookings:
        if booking.outcome in CATEGORIES:  # counted once, on its first flight
            bookings[key_of(grouping, booking.flights[0])][booking.outcome] += 1
        for flight, share in zip(booking.flights, refund_shares(booking), strict=True):
            if booking.paid and share:
                refunds[key_of(grouping, flight)][booking.currency] += share
    rows = []
    for key in sorted({*flights, *bookings, *refunds}):
        row: dict[str, Any] = {"key": key, "flights_cancelled": flights.get(key, 0)}
        for outcome, column in CATEGORIES.items():
            row[column] = bookings[key][outcome] if key in bookings else 0
        row["refunds_paid"] = (
            [money(amount, currency) for currency, amount in sorted(refunds[key].items())]
            if key in refunds
            else []
        )
        rows.append(row)
    return rows


EXPECTED: dict[str, Callable[[Ledger, str | None], list[dict[str, Any]]]] = {
    "revenue": revenue,
    "occupancy": occupancy,
    "on_time": on_time,
    "cancellations": cancellations,
}


def expected_report(ledger: Ledger, report: str, grouping: str) -> dict[str, Any]:
    compute = EXPECTED[report]
    return {"rows": compute(ledger, grouping), "totals": compute(ledger, None)}


def groupings(report: str) -> Iterable[str]:
    return [g for g in GROUPINGS if not (g == "cabin" and report in ("on_time", "cancellations"))]
