"""Response shape of a flight's seat map (`GET /flights/{id}/seats`)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SeatRead(BaseModel):
    seat: str = Field(examples=["12A"])
    available: bool


class SeatRowRead(BaseModel):
    row: int = Field(examples=[12])
    seats: list[SeatRead]


class CabinSeatMapRead(BaseModel):
    cabin: str
    letters: list[str] = Field(description="Seat letters of a full row, window to window")
    rows: list[SeatRowRead]
    seats_total: int
    seats_available: int = Field(
        description="Capacity minus seats sold; seats sold without a chosen seat count here "
        "but show no seat as taken"
    )


class SeatMapRead(BaseModel):
    flight_id: str
    flight_number: str
    aircraft: str | None
    cabins: list[CabinSeatMapRead] = Field(description="Front to back")
