"""Itinerary building without a database: connection times, currencies, orderings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flightdeck.flights.itineraries.repository import CabinRow
from flightdeck.flights.itineraries.service import BookableFlight
from flightdeck.platform.settings import Settings
from flightdeck.search.connections import ConnectionRules, Itinerary, connects, sort_itineraries

T0 = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)


def leg(
    number: str,
    origin: str,
    destination: str,
    departs: timedelta,
    flies: timedelta = timedelta(hours=2),
    *,
    fare: int = 100_00,
    currency: str = "USD",
    seats: int = 100,
) -> BookableFlight:
    """A bookable flight leaving `departs` after T0, as search reads it (one cabin, the
    searched one)."""
    departure = T0 + departs
    return BookableFlight(
        id=number,
        flight_number=number,
        origin=origin,
        destination=destination,
        departure_at=departure,
        arrival_at=departure + flies,
        service_date=departure.date(),
        aircraft=None,
        status="scheduled",
        schedule_id=None,
        flight_date=departure.date(),
        leg_sequence=1,
        itinerary_variation=None,
        service_type="J",
        traffic_restrictions=None,
        operating_carrier=None,
        operating_flight=None,
        fare_amount=fare,
        fare_currency=currency,
        seats_available=seats,
        cabins=(CabinRow("economy", seats, 0, fare, currency),),
    )


def numbers(itineraries: list[Itinerary]) -> list[list[str]]:
    return [[s.flight_number for s in i.segments] for i in itineraries]


RULES = ConnectionRules()
FIRST = leg("FD10", "JFK", "ORD", timedelta(0))  # lands at T0 + 2 h


def after_landing(minutes: int) -> timedelta:
    return timedelta(hours=2, minutes=minutes)  # departs `minutes` after FIRST lands


def onward(seconds: list[BookableFlight]) -> list[str]:
    """The flight numbers of the second legs that may follow FIRST (the check search makes
    on the pairs its SQL returns)."""
    return [second.flight_number for second in seconds if connects(FIRST, second, RULES)]


def test_rules_come_from_settings() -> None:
    rules = ConnectionRules.from_settings(
        Settings(
            min_connection_domestic_minutes=30,
            min_connection_international_minutes=60,
            max_layover_minutes=120,
        )
    )

    assert rules == ConnectionRules(
        timedelta(minutes=30), timedelta(minutes=60), timedelta(minutes=120)
    )


def test_domestic_connection_needs_the_domestic_minimum_and_at_most_the_maximum() -> None:
    seconds = [
        leg("T44", "ORD", "SFO", after_landing(44)),
        leg("T45", "ORD", "SFO", after_landing(45)),
        leg("T480", "ORD", "SFO", after_landing(480)),
        leg("T481", "ORD", "SFO", after_landing(481)),
    ]

    assert onward(seconds) == ["T45", "T480"]


def test_international_minimum_applies_when_any_airport_is_in_another_country() -> None:
    seconds = [
        leg("YYZ89", "ORD", "YYZ", after_landing(89)),
        leg("YYZ90", "ORD", "YYZ", after_landing(90)),
    ]

    assert onward(seconds) == ["YYZ90"]
    assert RULES.minimum_connection("JFK", "LHR", "JFK") == RULES.min_international
    assert RULES.minimum_connection("SEA", "ORD", "BOS") == RULES.min_domestic


def test_connections_never_return_to_the_origin_nor_mix_currencies() -> None:
    seconds = [
        leg("BACK", "ORD", "JFK", after_landing(60)),
        leg("EUR", "ORD", "SFO", after_landing(60), currency="EUR"),
        leg("USD", "ORD", "SFO", after_landing(60)),
    ]

    assert onward(seconds) == ["USD"]


def test_itinerary_sums_fares_and_takes_the_fewest_seats() -> None:
    second = leg("FD20", "ORD", "SFO", after_landing(60), fare=179_00, seats=3)

    assert connects(FIRST, second, RULES)
    itinerary = Itinerary((FIRST, second))

    assert (itinerary.fare_amount, itinerary.segments[0].fare_currency) == (279_00, "USD")
    assert itinerary.seats_available == 3
    assert itinerary.stops == 1
    assert itinerary.duration == timedelta(hours=5)
    assert [(layover.airport, layover.duration) for layover in itinerary.layovers] == [
        ("ORD", timedelta(hours=1))
    ]


def test_equal_itineraries_keep_a_stable_order() -> None:
    flights = [leg(n, "JFK", "SFO", timedelta(0)) for n in ("C", "A", "B")]
    itineraries = [Itinerary((flight,)) for flight in flights]

    for order in ("price", "duration", "departure"):
        assert numbers(sort_itineraries(itineraries, order)) == [["A"], ["B"], ["C"]]
