"""The SQL of itinerary search: Core statements that read only the columns a search shows.

Statements built once per sort order, compiled once per dialect and then run on
the database driver (`platform/compiled_reads.CompiledRead`: SQLAlchemy's own execution of
them cost more CPU than the database's answer; nothing is turned into ORM objects, rows are
read by position). Each ranks and limits in SQL, then adds every cabin of the few flights
kept (the API shows them all) as one text per flight. A search with one stop reads every kind
of itinerary in one statement (`candidates_statement`: the three kinds below, each ranked
and limited on its own, then UNION ALL), one round trip; a direct-only search reads
`direct_statement` alone. (That one statement is ~17 KiB of SQL, past what asyncpg keeps
prepared by default: `platform/db.ASYNCPG_CONNECT_ARGS` raises the limit.)

- `direct_statement`: the bookable flights of one route departing in a window, cheapest (or
  shortest, or earliest) first, on the index (origin, destination, departure_at): its cost
  follows the number of flights on that route that day.
- `connections_statement`: two flights joined in SQL: the first from the origin departing in the
  window, the second from where the first lands to the destination, departing within the
  connection window after it lands (on the same route index), in the same fare currency,
  best first and limited in SQL: however many pairs a big network holds, only `limit` rows
  come back. The minimum connection time is the rules' own (search/connections.py): the
  domestic one where the connecting airport (`destination_country` of the first leg) is in
  the country of both origin and destination, else the international one; so every pair
  ranked is one the rules allow, and no better pair is left behind one they refuse. Two legs
  of one multi-leg flight are not a connection (they are a through journey). What the
  database examines depends on the order:
  - by departure, pairs come in the first leg's index order and only the rest of the key is
    sorted, so the database stops once the page is full: the work follows the page (SQLite;
    PostgreSQL's generic plan too, an incremental sort: on the bench's 100,000-flight
    network 56 pairs for a page of 50, 0.9 ms);
  - by duration, which the flights' times decide, PostgreSQL orders the pairs by their times
    before it reads a cabin, then reads the cabins pair by pair in that order and stops with
    the page (`_two_leg_ranked_by_duration`, PostgreSQL's form only: SQLite would read more
    with it). The pairs' times are still all read; the cabins follow the page;
  - by price every pair is examined, cabins included (each pair's fares decide; ranking per
    first leg would not read fewer): the work follows the pairs through every hub that day,
    which grows with the origin's departures (about 400 pairs per search on the bench's
    100,000-flight network). Sorting them is not the cost; reading each leg and its cabin is.
- through journeys (in `candidates_statement` only): two consecutive legs of one multi-leg
  flight (same flight number and flight date, leg sequences n and n+1), the first from the
  origin in the window, the second to the destination: no minimum connection time between
  them. The next leg is sought among the legs that follow another only
  (`ix_flights_later_legs`, a partial index: most flights have one leg). PostgreSQL probes it
  for each departure from the origin, or, when its statistics say it is empty, reads it
  first and probes nothing (at 100,000 flights with no multi-leg flight this part went from
  ~1.3 to ~0.3 ms; with one flight in twenty a later leg, to ~0.9 ms). SQLite, which plans
  without statistics, keeps the unique key (flight number, flight date, leg sequence).

A flight is bookable when it is not cancelled, departed, arrived or diverted, is a passenger
service (`SOLD_SERVICE_TYPES`), departs in the window (which starts after now), and its
searched cabin has `passengers` free seats. A journey is offered only where the flights' SSIM
traffic restrictions sell it (`inventory/traffic.py`, as bookings check it): a flight alone,
in a connection, or two legs flown through. Each
departure bound is one condition: SQLite, which plans without statistics, then picks the
route index for a route (a second lower bound made it fall back to the origin's index).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    Table,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)

from flightdeck.flights.inventory.traffic import ALONE_ONLY, CONNECTION_ONLY, NEVER_SOLD
from flightdeck.flights.models import SOLD_SERVICE_TYPES, Flight, FlightCabin
from flightdeck.platform.compiled_reads import CompiledRead, constants
from flightdeck.platform.portable_sql import joined_text, plus_seconds, seconds_between

# Flights in these states take no bookings, so search never offers them.
UNSEARCHABLE_STATUSES = ("cancelled", "departed", "arrived", "diverted")
Order = Literal["price", "duration", "departure"]

_FLIGHTS: Table = Flight.__table__  # type: ignore[assignment]
_CABINS: Table = FlightCabin.__table__  # type: ignore[assignment]
LEG_NAMES = (
    "id", "flight_number", "origin", "destination", "departure_at", "arrival_at",
    "service_date", "aircraft", "status", "schedule_id", "flight_date", "leg_sequence",
    "itinerary_variation", "service_type", "traffic_restrictions", "operating_carrier",
    "operating_flight",
)  # fmt: skip


def _leg_columns(flight: Any, cabin: Any, prefix: str) -> list[ColumnElement[Any]]:
    """A leg's columns (LegRow's order, less its cabins), labelled `<prefix>_<name>`: the
    flight's by name (`flight[name]`: a table's columns, or a subquery's), the cabin's."""
    columns = [flight[name].label(f"{prefix}_{name}") for name in LEG_NAMES]
    return [
        *columns,
        cabin.fare_amount.label(f"{prefix}_fare_amount"),
        cabin.fare_currency.label(f"{prefix}_fare_currency"),
        (cabin.capacity - cabin.sold).label(f"{prefix}_seats_available"),
    ]


LEG_FIELDS = len(LEG_NAMES) + 3
# Each of a leg's columns with its type (`_leg_columns`' order).
_LEG_TYPES: list[tuple[str, Any]] = [
    *((name, _FLIGHTS.c[name].type) for name in LEG_NAMES),
    ("fare_amount", _CABINS.c.fare_amount.type),
    ("fare_currency", _CABINS.c.fare_currency.type),
    ("seats_available", Integer()),
]


def _every_cabin(flight_id: ColumnElement[str]) -> ColumnElement[str]:
    """Every cabin of the flight as `cabin,capacity,sold,fare,currency;…` (cabin names and
    currency codes hold neither separator)."""
    c = _CABINS.c
    fields = [c.cabin, cast(c.capacity, String), cast(c.sold, String)]
    fields += [cast(c.fare_amount, String), c.fare_currency]
    text = fields[0]
    for field in fields[1:]:
        text = text + literal_column("','") + field
    return select(joined_text(text, ";")).where(c.flight_id == flight_id).scalar_subquery()


def _offers_seats(flight_id: ColumnElement[str], cabin: Any) -> ColumnElement[bool]:
    """The join of a flight (by its id) to its searched cabin, when that cabin has the seats."""
    return and_(
        cabin.flight_id == flight_id,
        cabin.cabin == bindparam("cabin", type_=String),
        cabin.capacity - cabin.sold >= bindparam("passengers", type_=Integer),
    )


def _searchable(flight: Any) -> ColumnElement[bool]:
    status: ColumnElement[str] = flight.status
    service_type: ColumnElement[str] = flight.service_type
    return and_(
        status.not_in(constants(UNSEARCHABLE_STATUSES)),
        service_type.in_(constants(SOLD_SERVICE_TYPES)),
    )


def _sold(flight: Any, legs: int, refused: frozenset[str]) -> ColumnElement[bool]:
    """Whether the flight's traffic restriction code for a segment of `legs` legs starting
    with it (position `legs` of its codes; none: blank) is not one of `refused`."""
    code = func.coalesce(func.substr(flight.traffic_restrictions, legs, 1), "")
    return code.not_in(constants(refused))


# Which codes refuse a segment (inventory/traffic.py): one flown alone, one of a connection.
_REFUSED_ALONE = NEVER_SOLD | CONNECTION_ONLY
_REFUSED_CONNECTING = NEVER_SOLD | ALONE_ONLY


def _sort_keys(
    order: Order,
    *,
    fare: ColumnElement[Any],
    duration: ColumnElement[Any],
    departure: ColumnElement[Any],
) -> list[ColumnElement[Any]]:
    """The order of `search.connections.sort_itineraries` (then flight ids), so the first
    `limit` rows here are the best ones there."""
    keys = {
        "price": (fare, duration, departure),
        "duration": (duration, fare, departure),
        "departure": (departure, duration, fare),
    }[order]
    return [key.label(f"sort_{i}") for i, key in enumerate(keys)]


def _best_with_cabins(ranked: Select[Any], legs: Sequence[str]) -> Select[Any]:
    """`ranked` (leg columns, sort keys, ordered and limited) as a subquery, each leg's
    cabins added to its few rows, in the same order."""
    best = ranked.subquery("best")
    columns = [column for column in best.c if not column.name.startswith("sort_")]
    cabins = [_every_cabin(best.c[f"{leg}_id"]).label(f"{leg}_cabins") for leg in legs]
    keys = [column for column in best.c if column.name.startswith("sort_")]
    leg_ids = [best.c[f"{leg}_id"] for leg in legs]
    return select(*columns, *cabins).order_by(*keys, *leg_ids)


def _direct_ranked(order: Order) -> Select[Any]:
    """The best `limit` direct flights' columns (`direct_…`) and sort keys, ranked."""
    flight, cabin = _FLIGHTS.c, _CABINS.c
    keys = _sort_keys(
        order,
        fare=cabin.fare_amount,
        duration=seconds_between(flight.departure_at, flight.arrival_at),
        departure=flight.departure_at,
    )
    return (
        select(*_leg_columns(flight, cabin, "direct"), *keys)
        .select_from(_FLIGHTS.join(_CABINS, _offers_seats(flight.id, cabin)))
        .where(
            flight.origin == bindparam("origin", type_=String),
            flight.destination == bindparam("destination", type_=String),
            flight.departure_at >= bindparam("departing_from", type_=flight.departure_at.type),
            flight.departure_at < bindparam("departing_before", type_=flight.departure_at.type),
            _searchable(flight),
            _sold(flight, 1, _REFUSED_ALONE),
        )
        .order_by(*keys, flight.id)
        .limit(bindparam("limit", type_=Integer))
    )


@cache
def direct_statement(order: Order) -> CompiledRead:
    # Brief: the route's flights that day, by index, at most `limit` rows (on SQLite it runs
    # in the event loop's thread; a one-stop search's candidates keep their trip).
    return CompiledRead(_best_with_cabins(_direct_ranked(order), ["direct"]), brief=True)


def _connections_ranked(order: Order, *, times_first: bool = False) -> Select[Any]:
    """The best `limit` connections' columns and sort keys, ranked (`times_first`: by
    duration, in `_two_leg_ranked_by_duration`'s form)."""
    shortest = bindparam("min_connection", type_=Integer)
    longest = bindparam("max_layover", type_=Integer)

    def minimum(first: Any) -> ColumnElement[int]:
        # Domestic where the connecting airport is in `home_country` (origin and destination
        # both in it; NULL when they are not), international anywhere else.
        return case(
            (
                first.destination_country == bindparam("home_country", type_=String),
                bindparam("min_domestic", type_=Integer),
            ),
            else_=bindparam("min_international", type_=Integer),
        )

    def second_leg(first: Any, second: Any) -> ColumnElement[bool]:
        return and_(
            second.origin == first.destination,
            second.destination == bindparam("destination", type_=String),
            # A range on the route index; the exact limits are checked on the layover below.
            second.departure_at >= plus_seconds(first.arrival_at, shortest),
            second.departure_at < plus_seconds(first.arrival_at, longest + 1),
        )

    def conditions(first: Any, second: Any) -> list[ColumnElement[bool]]:
        layover = seconds_between(first.arrival_at, second.departure_at)
        return [
            layover >= minimum(first),
            layover <= longest,
            # One flight's own legs are a through journey, not a connection.
            or_(
                second.flight_number != first.flight_number,
                second.flight_date != first.flight_date,
            ),
            _sold(first, 1, _REFUSED_CONNECTING),
            _sold(second, 1, _REFUSED_CONNECTING),
        ]

    if times_first and order == "duration":
        return _two_leg_ranked_by_duration(second_leg, conditions)
    return _two_leg_ranked(order, second_leg, conditions)


def _on_postgresql(order: Order, build: Callable[[bool], Any]) -> dict[str, Any]:
    """PostgreSQL's own form of a statement with connections (`build(times_first)`): by
    duration, the pairs' times before their cabins (`_two_leg_ranked_by_duration`). SQLite
    keeps the plain form: it sorts the subquery's pairs whole and joins every one of them to
    its cabins, more work than the plain form (in its virtual machine's steps, 1,112 against
    673 for 24 departures' pairs)."""
    return {"postgresql": build(True)} if order == "duration" else {}


@cache
def connections_statement(order: Order) -> CompiledRead:
    def build(times_first: bool) -> Select[Any]:
        ranked = _connections_ranked(order, times_first=times_first)
        return _best_with_cabins(ranked, _TWO_LEGS)

    return CompiledRead(build(False), variants=_on_postgresql(order, build))


def _through_ranked(order: Order) -> Select[Any]:
    def next_leg(first: Any, second: Any) -> ColumnElement[bool]:
        return and_(
            second.flight_number == first.flight_number,
            second.flight_date == first.flight_date,
            second.leg_sequence == first.leg_sequence + 1,
            # Implied by the line above, and written out (a constant, not a bound value) so
            # PostgreSQL may seek it in `ix_flights_later_legs`, the later legs' own index.
            second.leg_sequence > literal_column("1"),
            second.origin == first.destination,
            second.destination == bindparam("destination", type_=String),
        )

    def conditions(first: Any, second: Any) -> list[ColumnElement[bool]]:
        return [
            second.departure_at >= first.arrival_at,
            # The two legs are one segment: the code at position 2 of the first decides.
            _sold(first, 2, _REFUSED_ALONE),
        ]

    return _two_leg_ranked(order, next_leg, conditions)


def _two_leg_ranked(
    order: Order,
    join_second: Callable[[Any, Any], ColumnElement[bool]],
    conditions: Callable[[Any, Any], list[ColumnElement[bool]]],
) -> Select[Any]:
    """Two legs from the origin to the destination, the second joined by `join_second`,
    their columns (`first_…`, `second_…`) and sort keys, ranked and limited in SQL
    (connections and through flights)."""
    first_table, second_table = _FLIGHTS.alias("first_leg"), _FLIGHTS.alias("second_leg")
    first_cabins, second_cabins = _CABINS.alias("first_cabin"), _CABINS.alias("second_cabin")
    first, second = first_table.c, second_table.c
    first_cabin, second_cabin = first_cabins.c, second_cabins.c
    keys = _sort_keys(
        order,
        fare=first_cabin.fare_amount + second_cabin.fare_amount,
        duration=seconds_between(first.departure_at, second.arrival_at),
        departure=first.departure_at,
    )
    return (
        select(
            *_leg_columns(first, first_cabin, "first"),
            *_leg_columns(second, second_cabin, "second"),
            *keys,
        )
        .select_from(
            first_table.join(first_cabins, _offers_seats(first.id, first_cabin))
            .join(second_table, join_second(first, second))
            .join(second_cabins, _offers_seats(second.id, second_cabin))
        )
        .where(
            *_two_legs_conditions(
                first, second, conditions, first_cabin.fare_currency == second_cabin.fare_currency
            )
        )
        .order_by(*keys, first.id, second.id)
        .limit(bindparam("limit", type_=Integer))
    )


def _two_legs_conditions(
    first: Any,
    second: Any,
    conditions: Callable[[Any, Any], list[ColumnElement[bool]]],
    *cabins: ColumnElement[bool],
) -> list[ColumnElement[bool]]:
    """What the two flights must satisfy: the first leaves the origin in the window for
    somewhere else, both are searchable, `cabins` (what their cabins must satisfy, when they
    are joined here), and `conditions`."""
    return [
        first.origin == bindparam("origin", type_=String),
        first.destination != bindparam("destination", type_=String),
        first.departure_at >= bindparam("departing_from", type_=first.departure_at.type),
        first.departure_at < bindparam("departing_before", type_=first.departure_at.type),
        _searchable(first),
        _searchable(second),
        *cabins,
        *conditions(first, second),
    ]


def _two_leg_ranked_by_duration(
    join_second: Callable[[Any, Any], ColumnElement[bool]],
    conditions: Callable[[Any, Any], list[ColumnElement[bool]]],
) -> Select[Any]:
    """`_two_leg_ranked` by duration, which the flights' times decide before any fare: the
    pairs are first put in duration order from the flights alone (a subquery that `OFFSET 0`
    keeps whole: PostgreSQL neither merges nor reorders it), and only then joined to their
    cabins. The cabins come last in the plan too, pair by pair in that order, and the rest of
    the key (fare, departure) is an incremental sort: reading stops once the page is full, so
    the cabins read follow the page, not every pair of the day (at 100,000 flights, 51 pairs'
    cabins instead of 404)."""
    first_table, second_table = _FLIGHTS.alias("first_leg"), _FLIGHTS.alias("second_leg")
    first, second = first_table.c, second_table.c
    duration = seconds_between(first.departure_at, second.arrival_at)
    pairs = (
        select(
            *(first[name].label(f"first_{name}") for name in LEG_NAMES),
            *(second[name].label(f"second_{name}") for name in LEG_NAMES),
            duration.label("duration"),
        )
        .select_from(first_table.join(second_table, join_second(first, second)))
        .where(*_two_legs_conditions(first, second, conditions))
        .order_by(duration)
        .offset(0)
        .subquery("pairs")
    )
    first_leg, second_leg = (
        {name: pairs.c[f"{leg}_{name}"] for name in LEG_NAMES} for leg in _TWO_LEGS
    )
    first_cabins, second_cabins = _CABINS.alias("first_cabin"), _CABINS.alias("second_cabin")
    first_cabin, second_cabin = first_cabins.c, second_cabins.c
    keys = _sort_keys(
        "duration",
        fare=first_cabin.fare_amount + second_cabin.fare_amount,
        duration=pairs.c.duration,
        departure=first_leg["departure_at"],
    )
    return (
        select(
            *_leg_columns(first_leg, first_cabin, "first"),
            *_leg_columns(second_leg, second_cabin, "second"),
            *keys,
        )
        .select_from(
            pairs.join(first_cabins, _offers_seats(first_leg["id"], first_cabin)).join(
                second_cabins, _offers_seats(second_leg["id"], second_cabin)
            )
        )
        .where(first_cabin.fare_currency == second_cabin.fare_currency)
        .order_by(*keys, first_leg["id"], second_leg["id"])
        .limit(bindparam("limit", type_=Integer))
    )


_TWO_LEGS = ["first", "second"]
# The kinds of candidate in `candidates_statement`'s `kind` column.
CONNECTION, THROUGH, DIRECT = 0, 1, 2


def _kind(ranked: Select[Any], kind: int, legs: Sequence[str]) -> Select[Any]:
    """One kind's best rows (`ranked`, its legs named `legs`) with their cabins, in the
    candidates' layout: `kind`, the first leg's columns and the second's (a direct flight
    has none: NULLs of their types), then each leg's cabins."""
    best = ranked.subquery(f"best_{kind}")
    columns: list[ColumnElement[Any]] = [literal_column(str(kind), Integer).label("kind")]
    slots = dict(zip(_TWO_LEGS, legs, strict=False))  # a direct flight is the first leg
    for slot in _TWO_LEGS:
        leg = slots.get(slot)
        columns += [
            (best.c[f"{leg}_{name}"] if leg else type_coerce(null(), type_)).label(f"{slot}_{name}")
            for name, type_ in _LEG_TYPES
        ]
    for slot in _TWO_LEGS:
        leg = slots.get(slot)
        cabins = _every_cabin(best.c[f"{leg}_id"]) if leg else type_coerce(null(), String)
        columns.append(cabins.label(f"{slot}_cabins"))
    return select(*columns)


@cache
def candidates_statement(order: Order) -> CompiledRead:
    """Every kind of candidate of a one-stop search in one statement (one round trip instead
    of three): each kind ranked and limited on its own (`_connections_ranked`,
    `_through_ranked`, `_direct_ranked`), then their rows together (UNION ALL, in no order:
    search sorts them), told apart by `kind`. Connections come first: the result's column
    types are theirs (a direct flight's second-leg NULLs are typed too). In no order, so on
    SQLite it comes back from the connection's thread as one row (`unordered`)."""

    def build(times_first: bool) -> Any:
        return union_all(
            _kind(_connections_ranked(order, times_first=times_first), CONNECTION, _TWO_LEGS),
            _kind(_through_ranked(order), THROUGH, _TWO_LEGS),
            _kind(_direct_ranked(order), DIRECT, ["direct"]),
        )

    return CompiledRead(build(False), unordered=True, variants=_on_postgresql(order, build))
