"""`GET /flights/{id}/seats`: a flight's seat map."""

from __future__ import annotations

from fastapi import APIRouter

from flightdeck.flights.errors import FlightNotFound
from flightdeck.flights.inventory import service
from flightdeck.flights.inventory.schemas import SeatMapRead
from flightdeck.platform.db import DbSession
from flightdeck.platform.errors import error_responses
from flightdeck.platform.text import ResourceId

router = APIRouter(tags=["flights"])


@router.get("/flights/{flight_id}/seats", responses=error_responses(FlightNotFound))
async def get_seat_map(flight_id: ResourceId, session: DbSession) -> SeatMapRead:
    """Seat map: each cabin's rows and seats, taken or available."""
    return await service.seat_map_for_flight(session, flight_id)
