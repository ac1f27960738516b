"""Booked flights a schedule change keeps: where they now belong, how they differ from their
schedule, and the `flight.schedule_changed` events that tell their passengers.

A change never moves or removes a flight with seats sold (see service.py). Such a flight stays
as it is, so the schedule may now say something else for its date: it no longer flies then
(cancelled, or the period shrank), or at other times, or with another aircraft. Operations
settle it by hand (retime it with `PUT /flights/{id}` or cancel it); meanwhile its passengers
are told, once per change, through the notifications domain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.flights.schedules.generation import DatedTimes, operating_dates
from flightdeck.flights.schedules.repository import FutureFlight
from flightdeck.flights.schedules.schemas import KeptFlight, ScheduleCreate
from flightdeck.platform.events.outbox import record_event

FLIGHT_SCHEDULE_CHANGED = "flight.schedule_changed"
NOT_SCHEDULED = "not in the schedule any more"


@dataclass
class KeptChanges:
    kept: list[KeptFlight] = field(default_factory=list)
    # Kept flight id -> the new schedule whose dates cover it (when not the changed one).
    new_schedule_ids: dict[str, str] = field(default_factory=dict)


def _difference(
    flight: FutureFlight, definition: ScheduleCreate | None, dated: Sequence[DatedTimes]
) -> str | None:
    if definition is None or definition.status != "active":
        return NOT_SCHEDULED
    day = next((d for d in dated if d.service_date == flight.service_date), None)
    if day is None:
        return NOT_SCHEDULED
    if (day.departure_at, day.arrival_at) != (flight.departure_at, flight.arrival_at):
        return "times"
    if (definition.aircraft or None) != (flight.aircraft or None):
        return "aircraft"
    return None


def kept_flight_changes(
    kept: Sequence[FutureFlight],
    schedule_ids: Sequence[str],
    definitions: Sequence[ScheduleCreate],
    dated: Sequence[Sequence[DatedTimes]],
) -> KeptChanges:
    """Each kept flight against the definitions that replace its schedule (none: deleted).

    `schedule_ids[i]` is the schedule of `definitions[i]` and `dated[i]` its operating days.
    """
    covering = [{*operating_dates(d.days_of_week, d.valid_from, d.valid_to)} for d in definitions]
    changes = KeptChanges()
    for flight in kept:
        index = next(
            (
                i
                for i, d in enumerate(definitions)
                if d.leg_sequence == flight.leg_sequence and flight.service_date in covering[i]
            ),
            None,
        )
        definition = None if index is None else definitions[index]
        changes.kept.append(
            KeptFlight(
                id=flight.id,
                flight_number=flight.flight_number,
                service_date=flight.service_date,
                difference=_difference(
                    flight, definition, dated[index] if index is not None else ()
                ),
            )
        )
        if index:  # covered by a new schedule, not by the changed one (index 0)
            changes.new_schedule_ids[flight.id] = schedule_ids[index]
    return changes


async def record_kept_flight_changes(
    session: AsyncSession, kept: Sequence[KeptFlight], actor_id: str | None
) -> None:
    """One `flight.schedule_changed` event per kept flight that no longer matches."""
    for flight in kept:
        if flight.difference is None:
            continue
        await record_event(
            session,
            FLIGHT_SCHEDULE_CHANGED,
            aggregate_type="flight",
            aggregate_id=flight.id,
            payload={
                "flight_id": flight.id,
                "flight_number": flight.flight_number,
                "service_date": flight.service_date.isoformat(),
                "difference": flight.difference,
            },
            actor_id=actor_id,
        )
