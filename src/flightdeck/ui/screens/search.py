"""Search: airports with type-ahead, a date, passengers and cabin; itineraries to pick from."""

from __future__ import annotations

import datetime as dt
from typing import Any

import flet as ft

from flightdeck.ui.airport_field import AirportField
from flightdeck.ui.api import ApiError
from flightdeck.ui.formatting import TO, day_offset, duration, label, local_time, money, parse_date
from flightdeck.ui.screens.base import Screen
from flightdeck.ui.session import Trip
from flightdeck.ui.widgets import Busy, Form, choice, heading, ident, responsive, text_field

CABINS = ("economy", "premium_economy", "business", "first")


def date_field(name: str, label_text: str, prefix: str, **options: Any) -> ft.TextField:
    return text_field(name, label_text, prefix=prefix, hint="YYYY-MM-DD", **options)


class DateInput:
    """A date typed as YYYY-MM-DD (keyboard) or picked from a calendar."""

    def __init__(self, page: ft.Page, field: ft.TextField) -> None:
        self.page = page
        self.field = field
        self.picker = ft.DatePicker(
            first_date=dt.datetime(2000, 1, 1),
            last_date=dt.datetime(2100, 12, 31),
            on_change=self._picked,
        )
        button = ft.IconButton(ft.Icons.CALENDAR_MONTH, tooltip="Pick a date", on_click=self._open)
        self.field.suffix_icon = ident(f"{field.data}-calendar", button)

    async def _open(self) -> None:
        self.page.show_dialog(self.picker)

    async def _picked(self) -> None:
        picked = self.picker.value
        if picked is not None:
            day = picked.date() if isinstance(picked, dt.datetime) else picked
            self.field.value = day.isoformat()
            self.field.error = None
            self.page.update()


class SearchScreen(Screen):
    title = "Search flights"

    def build(self) -> ft.Control:
        self.form = self._search_form(self.state.last_search)
        self.busy = Busy(self.page, "search-progress")
        self.search_button = ft.FilledButton("Search", icon=ft.Icons.SEARCH, on_click=self._search)
        self.summary = ft.Text("")
        self.results = ft.Column(spacing=8)
        self.itineraries: dict[int, dict[str, Any]] = {}
        c = self.form.control
        return ft.Column(
            [
                heading("Where to?", "search-heading"),
                responsive(self.origin.control, self.destination.control),
                responsive(c("date"), c("passengers"), c("cabin"), desktop=4),
                self.form.error_control,
                ft.Row([ident("search-submit", self.search_button), self.busy.control]),
                ident("search-summary", self.summary),
                ident("search-results", self.results),
            ],
            spacing=12,
        )

    def _search_form(self, last: dict[str, str]) -> Form:
        """The search's fields, as the last search left them (tomorrow by default)."""
        self.origin = AirportField(self.api, "origin", "From", prefix="search", autofocus=True)
        self.destination = AirportField(self.api, "destination", "To", prefix="search")
        self.origin.field.value = last.get("origin", "")
        self.destination.field.value = last.get("destination", "")
        tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
        date = date_field("date", "Date", "search", value=last.get("date", tomorrow))
        date.on_submit = self._search  # Enter searches
        self.date = DateInput(self.page, date)
        counts = [(str(n), str(n)) for n in range(1, 10)]
        cabins = [(c, label(c)) for c in CABINS]
        fields: dict[str, ft.TextField | ft.Dropdown] = {
            "origin": self.origin.field,
            "destination": self.destination.field,
            "date": date,
            "passengers": choice(
                "search-passengers", "Passengers", counts, last.get("passengers", "1")
            ),
            "cabin": choice("search-cabin", "Cabin", cabins, last.get("cabin", "economy")),
        }
        return Form("search", fields)

    async def start(self) -> None:
        if self.state.last_search:
            await self._search()

    async def _search(self) -> None:
        form = self.form
        form.clear()
        try:
            parse_date(form.value("date"))
        except ValueError:
            form.fail("Use a date like 2026-12-24", "date")
            self.page.update()
            return
        query = {
            "origin": self.origin.code,
            "destination": self.destination.code,
            "date": form.value("date"),
            "passengers": form.value("passengers") or "1",
            "cabin": form.value("cabin") or "economy",
        }
        async with self.busy.running(self.search_button):
            try:
                found = await self.api.search(query)
            except ApiError as error:
                form.show(error)
                return
        self.state.last_search = query
        self._show(found, query)
        self.page.update()

    def _show(self, found: dict[str, Any], query: dict[str, str]) -> None:
        itineraries = found.get("itineraries", [])
        count = len(itineraries)
        self.summary.value = (
            f"{count} itinerar{'y' if count == 1 else 'ies'} {query['origin']}{TO}"
            f"{query['destination']} on {query['date']}"
            if count
            else "No flights with free seats on that day. Try another date or cabin."
        )
        self.itineraries = {}
        self.results.controls = [self._card(i, it, query) for i, it in enumerate(itineraries)]

    def _card(self, index: int, itinerary: dict[str, Any], query: dict[str, str]) -> ft.Control:
        segments = itinerary["segments"]
        stops = itinerary["stops"]
        layovers = ", ".join(
            f"{stop['airport']} {duration(stop['minutes'])}"
            for stop in itinerary.get("layovers", [])
        )
        route = TO.join([segments[0]["origin"], *(s["destination"] for s in segments)])
        departs, arrives = itinerary["departure_time"], itinerary["arrival_time"]
        times = f"{local_time(departs)} {TO} {local_time(arrives)} {day_offset(departs, arrives)}"
        select = ft.FilledTonalButton("Select", data=index, on_click=self._select)
        self.itineraries[index] = itinerary
        details = [
            ft.Text(times, size=18, weight=ft.FontWeight.BOLD),
            ft.Text(
                f"{route} · {'Nonstop' if stops == 0 else f'{stops} stop'}"
                f"{f' ({layovers})' if layovers else ''} · "
                f"{duration(itinerary['duration_minutes'])}"
            ),
            ft.Text(" · ".join(s["flight_number"] for s in segments), size=12),
            *self._punctuality(segments),
        ]
        price = ft.Column(
            [
                ft.Text(money(itinerary["total_price"]), size=18, weight=ft.FontWeight.BOLD),
                ft.Text(f"{itinerary['seats_available']} seats left", size=12),
                ident(f"select-itinerary-{index}", select),
            ],
            horizontal_alignment=ft.CrossAxisAlignment.END,
        )
        body = ft.Row(
            [ft.Column(details, expand=True, spacing=2), price],
            vertical_alignment=ft.CrossAxisAlignment.START,
        )
        return ident(f"itinerary-{index}", ft.Card(ft.Container(body, padding=12)))

    @staticmethod
    def _punctuality(segments: list[dict[str, Any]]) -> list[ft.Control]:
        """Each segment's punctuality over 30 days, when the server reports it."""
        shown: list[ft.Control] = []
        for segment in segments:
            stats = segment.get("punctuality")
            if isinstance(stats, dict) and stats.get("flights_observed"):
                share = round(float(stats.get("on_time_share", 0)) * 100)
                shown.append(
                    ft.Text(
                        f"{segment['flight_number']}: {share}% on time, average delay "
                        f"{duration(int(stats.get('average_delay_minutes', 0)))} "
                        f"({stats['flights_observed']} flights)",
                        size=12,
                    )
                )
        return shown

    async def _select(self, event: ft.Event[Any]) -> None:
        itinerary = self.itineraries[int(event.control.data)]
        query = self.state.last_search
        self.state.trip = Trip(itinerary, query["cabin"], int(query["passengers"]))
        await self.context.go("/book")
