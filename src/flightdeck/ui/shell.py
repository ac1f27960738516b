"""The frame around every screen: app bar with the notification bell, navigation by role
(a rail on a desktop, a bar at the bottom on a phone) and the routes (`#/trips/<id>`)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import flet as ft

from flightdeck.ui.api import ApiError
from flightdeck.ui.formatting import drawable
from flightdeck.ui.live import Message
from flightdeck.ui.screens.base import Context, Screen
from flightdeck.ui.session import SessionState
from flightdeck.ui.widgets import ident, is_phone, snack

log = logging.getLogger(__name__)

SIGN_IN = "/signin"


@dataclass(frozen=True)
class Destination:
    route: str
    label: str
    icon: ft.IconData


PASSENGER_NAV = (
    Destination("/search", "Search", ft.Icons.FLIGHT_TAKEOFF),
    Destination("/trips", "My trips", ft.Icons.LUGGAGE),
    Destination("/inbox", "Inbox", ft.Icons.INBOX),
)
AGENT_NAV = (
    Destination("/agent/flights", "Flights", ft.Icons.FLIGHT),
    Destination("/agent/schedules", "Schedules", ft.Icons.CALENDAR_MONTH),
    Destination("/search", "Search", ft.Icons.SEARCH),
    Destination("/inbox", "Inbox", ft.Icons.INBOX),
)
ADMIN_NAV = (
    Destination("/admin/reports", "Reports", ft.Icons.INSERT_CHART),
    Destination("/admin/data", "Records", ft.Icons.TABLE_CHART),
    Destination("/agent/flights", "Flights", ft.Icons.FLIGHT),
    Destination("/agent/schedules", "Schedules", ft.Icons.CALENDAR_MONTH),
    Destination("/inbox", "Inbox", ft.Icons.INBOX),
)
NAV_BY_ROLE = {"passenger": PASSENGER_NAV, "agent": AGENT_NAV, "admin": ADMIN_NAV}
# Route prefix → roles allowed (the server decides what they may do; this only hides screens).
STAFF_ONLY = {"/agent/": {"agent", "admin"}, "/admin/": {"admin"}}


def screen_for(route: str, context: Context) -> Screen:
    """The screen a route shows (imports here keep start-up light)."""
    from flightdeck.ui.screens import (
        admin_reports,
        admin_tables,
        agent_flights,
        agent_schedules,
        auth,
        booking,
        inbox,
        payment,
        search,
        trips,
    )

    if route.startswith("/trips/"):
        return trips.TripScreen(context, route.removeprefix("/trips/"))
    factories: dict[str, Callable[[Context], Screen]] = {
        SIGN_IN: auth.AuthScreen,
        "/search": search.SearchScreen,
        "/book": booking.BookingScreen,
        "/pay": payment.PaymentScreen,
        "/trips": trips.TripsScreen,
        "/inbox": inbox.InboxScreen,
        "/agent/flights": agent_flights.AgentFlightsScreen,
        "/agent/schedules": agent_schedules.SchedulesScreen,
        "/admin/reports": admin_reports.ReportsScreen,
        "/admin/data": admin_tables.RecordsScreen,
    }
    return factories.get(route, search.SearchScreen)(context)


class Shell:
    def __init__(self, page: ft.Page, state: SessionState) -> None:
        self.page = page
        self.state = state
        self.context = Context(page, state, self.go, self.signed_in, self.refresh_unread)
        self.screen: Screen | None = None
        self.route = ""
        self.content = ft.Column(expand=True, scroll=ft.ScrollMode.AUTO, spacing=12)
        self.bell = ft.IconButton(
            ft.Icons.NOTIFICATIONS_OUTLINED, tooltip="Notifications", on_click=self._open_inbox
        )
        self.bell_control = ident("bell", self.bell, label="Notifications")
        self.who = ft.Text("", size=13)
        self.sign_out_button = ft.IconButton(
            ft.Icons.LOGOUT, tooltip="Sign out", on_click=self._sign_out
        )
        self.sign_out_control = ident("sign-out", self.sign_out_button)
        self.rail = ft.NavigationRail(
            destinations=[], on_change=self._nav_changed, label_type=ft.NavigationRailLabelType.ALL
        )
        self.bar = ft.NavigationBar(destinations=[], on_change=self._nav_changed)
        self.rail_box = ft.Row([ident("nav-rail", self.rail), ft.VerticalDivider(width=1)])
        self.phone_marker = self._layout_marker("phone")
        self.desktop_marker = self._layout_marker("desktop")

    @staticmethod
    def _layout_marker(name: str) -> ft.Semantics:
        # Shown in one layout only (`layout-phone`, `layout-desktop`): tools and tests can
        # tell when a resize has been laid out.
        return ident(f"layout-{name}", ft.Container(width=1, height=1))

    async def start(self) -> None:
        page = self.page
        page.title = "FlightDeck"
        page.theme = ft.Theme(color_scheme_seed=ft.Colors.INDIGO)
        page.padding = 0
        page.appbar = ft.AppBar(
            title=ident("app-title", ft.Text("FlightDeck", weight=ft.FontWeight.BOLD)),
            actions=[
                self.phone_marker,
                self.desktop_marker,
                self.who,
                self.bell_control,
                self.sign_out_control,
            ],
        )
        body = ft.Container(self.content, expand=True, padding=16)
        page.add(ft.Row([self.rail_box, body], expand=True, spacing=0))
        page.on_route_change = self._route_changed
        page.on_resize = self._resized
        page.on_close = self._closed
        page.on_disconnect = self._disconnected
        page.on_connect = self._connected
        self.state.listen(self._live_message)
        await self.show(page.route or "/")

    # --- navigation ---------------------------------------------------------------------

    async def go(self, route: str) -> None:
        if route == self.page.route:
            await self.show(route)
        else:
            await self.page.push_route(route)

    async def _route_changed(self, event: ft.RouteChangeEvent) -> None:
        await self.show(event.route)

    async def show(self, route: str) -> None:
        route = self._allowed(route or "/")
        if route != self.page.route:
            await self.page.push_route(route)
            return
        if self.screen is not None:
            self.screen.dispose()
        self.route = route
        self.screen = screen_for(route, self.context)
        self.content.controls = [self.screen.build()]
        self._layout()
        self.page.update()
        try:
            await self.screen.start()
        except ApiError as error:
            snack(self.page, error.message)
        self.page.update()

    def _allowed(self, route: str) -> str:
        """Signed out: the sign-in screen; a screen of another role: the user's home."""
        if self.state.user is None:
            return SIGN_IN
        role = self.state.role
        for prefix, roles in STAFF_ONLY.items():
            if route.startswith(prefix) and role not in roles:
                return self._home()
        if route in {"/", SIGN_IN}:
            return self._home()
        return route

    def _home(self) -> str:
        return NAV_BY_ROLE.get(self.state.role, PASSENGER_NAV)[0].route

    def _destinations(self) -> tuple[Destination, ...]:
        return NAV_BY_ROLE.get(self.state.role, ()) if self.state.user else ()

    def _layout(self, width: float | None = None) -> None:
        """Rail or bottom bar by width; both list the role's destinations."""
        destinations = self._destinations()
        selected = next(
            (i for i, d in enumerate(destinations) if self.route.startswith(d.route)), None
        )
        phone = is_phone(self.page, width)
        self.phone_marker.visible, self.desktop_marker.visible = phone, not phone
        self.rail.destinations = [
            ft.NavigationRailDestination(icon=d.icon, label=d.label) for d in destinations
        ]
        self.rail.selected_index = selected
        self.rail_box.visible = bool(destinations) and not phone
        if destinations and phone:
            self.bar.destinations = [
                ft.NavigationBarDestination(icon=d.icon, label=d.label) for d in destinations
            ]
            self.bar.selected_index = selected or 0
            self.page.navigation_bar = self.bar
        else:
            self.page.navigation_bar = None
        self.who.value = str((self.state.user or {}).get("full_name", ""))
        self.bell_control.visible = self.sign_out_control.visible = self.state.user is not None
        self.bell.badge = str(self.state.unread) if self.state.unread else None
        self.bell_control.label = f"Notifications, {self.state.unread} unread"

    async def _nav_changed(self, event: ft.Event[Any]) -> None:
        index = int(event.control.selected_index or 0)
        destinations = self._destinations()
        if 0 <= index < len(destinations):
            await self.go(destinations[index].route)

    async def _resized(self, event: ft.PageResizeEvent) -> None:
        self._layout(event.width)  # the page's own width may not have caught up yet
        self.page.update()

    # --- session ------------------------------------------------------------------------

    async def signed_in(self) -> None:
        self.state.start_live_feed()
        await self.go(self._home())
        await self.refresh_unread()

    async def _sign_out(self) -> None:
        await self.state.sign_out()
        await self.go(SIGN_IN)

    async def refresh_unread(self) -> None:
        with contextlib.suppress(ApiError):
            inbox = await self.state.api.notifications(unread=True)
            self.state.unread = len(inbox.get("items", []))
        self._layout()
        self.page.update()

    async def _live_message(self, message: Message) -> None:
        if message.get("type") == "notification":
            self.state.unread += 1
            note = message.get("notification") or {}
            snack(self.page, drawable(str(note.get("title", "New notification"))))
            self._layout()
            self.page.update()

    async def _open_inbox(self) -> None:
        await self.go("/inbox")

    async def _closed(self) -> None:
        await self.state.stop_live_feed()
        await self.state.api.aclose()

    async def _disconnected(self) -> None:
        # The browser went away (perhaps for good): no socket held open on its behalf.
        await self.state.stop_live_feed()

    async def _connected(self) -> None:
        if self.state.user is not None:
            self.state.start_live_feed()
