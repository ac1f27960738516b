"""Seats per segment and passenger details, then the hold: `POST /bookings`."""

from __future__ import annotations

from typing import Any

import flet as ft

from flightdeck.ui.api import ApiError
from flightdeck.ui.formatting import label, leg, local_date_time, money
from flightdeck.ui.screens.base import Screen
from flightdeck.ui.screens.search import date_field
from flightdeck.ui.widgets import Busy, Form, heading, ident, responsive, text_field

SEAT_SIZE = 34
AISLE_WIDTH = 14


class SeatMap:
    """One segment's cabin: seats to pick for each passenger (taken ones disabled)."""

    def __init__(self, screen: BookingScreen, index: int, segment: dict[str, Any]) -> None:
        self.screen = screen
        self.index = index
        self.segment = segment
        self.choices: list[str | None] = [None] * screen.passenger_count
        self.active = 0  # the passenger choosing now
        self.grid = ft.Column(spacing=4)
        self.note = ft.Text("", size=12)
        self.passenger_picker = ft.SegmentedButton(
            segments=[
                ft.Segment(value=str(i), label=f"P{i + 1}") for i in range(screen.passenger_count)
            ],
            selected=["0"],
            on_change=self._passenger_changed,
        )
        picker = ident(f"seatmap-{index}-passenger", self.passenger_picker)
        picker.visible = screen.passenger_count > 1
        self.control = ident(
            f"seatmap-{index}",
            ft.Column(
                [
                    ft.Text(
                        f"{leg(segment)}, {local_date_time(segment['departure_time'])}",
                        weight=ft.FontWeight.BOLD,
                    ),
                    picker,
                    ident(f"seatmap-{index}-choice", self.note),
                    ft.Row([self.grid], scroll=ft.ScrollMode.AUTO),
                ],
                spacing=6,
            ),
        )

    def show(self, seat_map: dict[str, Any], cabin: str) -> None:
        cabins = [c for c in seat_map.get("cabins", []) if c["cabin"] == cabin]
        if not cabins:
            self.note.value = (
                f"No {label(cabin)} seat map for this flight; seats are given at check-in."
            )
            return
        letters = cabins[0]["letters"]
        aisle_after = _aisle_positions(letters)
        letter_cells: list[ft.Control] = [
            ft.Container(ft.Text(x, size=11), width=SEAT_SIZE, alignment=ft.Alignment.CENTER)
            for x in letters
        ]
        header = [ft.Container(width=SEAT_SIZE), *_with_aisles(letter_cells, aisle_after)]
        rows: list[ft.Control] = [ft.Row(header, spacing=2)]
        for row in cabins[0]["rows"]:
            seats = [self._seat(seat) for seat in row["seats"]]
            number = ft.Container(
                ft.Text(str(row["row"]), size=11), width=SEAT_SIZE, alignment=ft.Alignment.CENTER
            )
            rows.append(ft.Row([number, *_with_aisles(seats, aisle_after)], spacing=2))
        self.grid.controls = rows
        self._describe()

    def _seat(self, seat: dict[str, Any]) -> ft.Control:
        code = seat["seat"]
        taken = not seat["available"]
        chosen = code in self.choices
        button = ft.Container(
            ft.Text(code, size=10, color=ft.Colors.WHITE if chosen else None),
            width=SEAT_SIZE,
            height=SEAT_SIZE,
            alignment=ft.Alignment.CENTER,
            border_radius=6,
            bgcolor=ft.Colors.PRIMARY
            if chosen
            else (ft.Colors.GREY_400 if taken else ft.Colors.SURFACE_CONTAINER_HIGHEST),
            on_click=None if taken else self._picked,
            data=code,
            disabled=taken,
        )
        state = "taken" if taken else ("chosen" if chosen else "free")
        return ft.Semantics(
            identifier=f"seat-{self.index}-{code}",
            label=f"Seat {code}, {state}",
            button=not taken,
            content=button,
        )

    async def _picked(self, event: ft.Event[Any]) -> None:
        code = str(event.control.data)
        self.choices = [None if c == code else c for c in self.choices]
        self.choices[self.active] = code
        if self.active + 1 < len(self.choices) and self.choices[self.active + 1] is None:
            self.active += 1
            self.passenger_picker.selected = [str(self.active)]
        await self.screen.reload_seat_map(self)

    async def _passenger_changed(self) -> None:
        self.active = int(self.passenger_picker.selected[0])
        self._describe()
        self.screen.page.update()

    def _describe(self) -> None:
        picked = ", ".join(f"P{i + 1}: {c or '—'}" for i, c in enumerate(self.choices))
        self.note.value = f"Seats: {picked}. Tap a free seat for passenger {self.active + 1}."


def _aisle_positions(letters: list[str]) -> set[int]:
    """Where the aisles are: the middle of a 4-6 seat row; after the 3rd and 6th of 9-10."""
    width = len(letters)
    if width >= 9:
        return {2, 5} if width == 9 else {2, 6}
    if width == 7:
        return {1, 4}
    return {width // 2 - 1} if width >= 4 else set()


def _with_aisles(cells: list[ft.Control], aisle_after: set[int]) -> list[ft.Control]:
    out: list[ft.Control] = []
    for position, cell in enumerate(cells):
        out.append(cell)
        if position in aisle_after:
            out.append(ft.Container(width=AISLE_WIDTH))
    return out


class BookingScreen(Screen):
    title = "Seats and passengers"

    def build(self) -> ft.Control:
        trip = self.state.trip
        if trip is None:
            return ft.Text("Pick a flight first: go to Search.")
        self.trip = trip
        self.passenger_count = trip.passengers
        self.seat_maps = [SeatMap(self, i, s) for i, s in enumerate(trip.itinerary["segments"])]
        self.form = Form("booking", self._passenger_fields())
        self.busy = Busy(self.page, "booking-progress")
        self.hold_button = ft.FilledButton(
            "Hold seats and pay", icon=ft.Icons.LOCK_CLOCK, on_click=self._hold
        )
        total = money(trip.itinerary["total_price"])
        seats = ft.Column(
            [
                heading("Choose seats", "booking-heading"),
                ft.Text(f"{label(trip.cabin)} · {trip.passengers} passenger(s) · {total}"),
                *(m.control for m in self.seat_maps),
            ],
            spacing=12,
            col={"xs": 12, "lg": 6},
        )
        details = ft.Column(
            [
                heading("Passengers"),
                *self._passenger_rows(),
                self.form.error_control,
                ft.Row([ident("booking-submit", self.hold_button), self.busy.control]),
            ],
            spacing=12,
            col={"xs": 12, "lg": 6},
        )
        # Side by side on a desktop (the button in sight), one after the other on a phone.
        return ft.ResponsiveRow([seats, details], spacing=24)

    def _passenger_fields(self) -> dict[str, ft.TextField]:
        """Each passenger's fields, named as the API names them (`passengers.0.first_name`)."""
        fields: dict[str, ft.TextField] = {}
        for p in range(self.passenger_count):
            prefix, key = f"passenger-{p}", f"passengers.{p}"
            fields[f"{key}.first_name"] = text_field("first-name", "First name", prefix=prefix)
            fields[f"{key}.last_name"] = text_field("last-name", "Last name", prefix=prefix)
            fields[f"{key}.date_of_birth"] = date_field("date-of-birth", "Date of birth", prefix)
            fields[f"{key}.passport_number"] = text_field(
                "passport", "Passport number (optional)", prefix=prefix,
                capitalization=ft.TextCapitalization.CHARACTERS, on_submit=self._hold,
            )  # fmt: skip
        return fields

    def _passenger_rows(self) -> list[ft.Control]:
        rows: list[ft.Control] = []
        for p in range(self.passenger_count):
            names = [
                self.form.control(f"passengers.{p}.{f}")
                for f in ("first_name", "last_name", "date_of_birth", "passport_number")
            ]
            rows += [
                ft.Text(f"Passenger {p + 1}", weight=ft.FontWeight.BOLD),
                responsive(*names, desktop=6),
            ]
        return rows

    async def start(self) -> None:
        for seat_map in getattr(self, "seat_maps", []):
            await self.reload_seat_map(seat_map)

    async def reload_seat_map(self, seat_map: SeatMap) -> None:
        try:
            seat_map.show(await self.api.seat_map(seat_map.segment["id"]), self.trip.cabin)
        except ApiError as error:
            seat_map.note.value = error.message
        self.page.update()

    async def _hold(self) -> None:
        form = self.form
        form.clear()
        passengers = []
        for p in range(self.passenger_count):
            passenger: dict[str, Any] = {
                "first_name": form.value(f"passengers.{p}.first_name"),
                "last_name": form.value(f"passengers.{p}.last_name"),
                "date_of_birth": form.value(f"passengers.{p}.date_of_birth"),
                "seats": [m.choices[p] for m in self.seat_maps],
            }
            passport = form.value(f"passengers.{p}.passport_number")
            if passport:
                passenger["passport_number"] = passport
            passengers.append(passenger)
        body = {
            "segments": [s["id"] for s in self.trip.itinerary["segments"]],
            "cabin": self.trip.cabin,
            "passengers": passengers,
        }
        async with self.busy.running(self.hold_button):
            try:
                self.trip.booking = await self.api.create_booking(body)
            except ApiError as error:
                form.show(error)
                if error.code.startswith("seat"):
                    await self.start()  # someone was faster: show the map as it is now
                return
        await self.context.go("/pay")
