"""The inbox: notifications newest first, unread ones marked; reading one clears it."""

from __future__ import annotations

from typing import Any

import flet as ft

from flightdeck.ui.api import ApiError
from flightdeck.ui.formatting import drawable, parse_instant
from flightdeck.ui.live import Message
from flightdeck.ui.screens.base import Screen
from flightdeck.ui.widgets import Busy, heading, ident


class InboxScreen(Screen):
    title = "Inbox"

    def build(self) -> ft.Control:
        self.list = ft.Column(spacing=6)
        self.busy = Busy(self.page, "inbox-progress")
        self.read_all = ft.TextButton(
            "Mark all read", icon=ft.Icons.DONE_ALL, on_click=self._read_all
        )
        return ft.Column(
            [
                ft.Row(
                    [
                        heading("Notifications", "inbox-heading"),
                        self.busy.control,
                        ident("inbox-read-all", self.read_all),
                    ],
                    wrap=True,
                ),
                ident("inbox-list", self.list),
            ]
        )

    async def start(self) -> None:
        await self.refresh()
        self.listen(self._live)

    async def refresh(self) -> None:
        async with self.busy.running():
            inbox = await self.api.notifications()
        items = inbox.get("items", [])
        self.list.controls = [self._item(i, n) for i, n in enumerate(items)] or [
            ft.Text("Nothing here yet: flight changes and booking news will appear here.")
        ]

    def _item(self, index: int, note: dict[str, Any]) -> ft.Control:
        unread = note.get("read_at") is None
        when = parse_instant(note.get("created_at"))
        tile = ft.ListTile(
            leading=ft.Icon(ft.Icons.MARK_EMAIL_UNREAD if unread else ft.Icons.DRAFTS),
            title=ft.Text(drawable(note["title"]), weight=ft.FontWeight.BOLD if unread else None),
            subtitle=ft.Text(
                f"{drawable(note['message'])}\n{when:%d %b %H:%M} UTC"
                if when
                else drawable(note["message"])
            ),
            is_three_line=True,
            data=note["id"] if unread else None,
            on_click=self._read,
        )
        return ident(f"notification-{index}", ft.Card(tile), label="Unread" if unread else None)

    async def _read(self, event: ft.Event[Any]) -> None:
        if event.control.data is None:
            return
        try:
            await self.api.mark_read(str(event.control.data))
        except ApiError as error:
            self.report(error)
            return
        await self.refresh()
        await self.context.unread_changed()  # updates the page

    async def _read_all(self) -> None:
        try:
            await self.api.mark_all_read()
        except ApiError as error:
            self.report(error)
            return
        await self.refresh()
        await self.context.unread_changed()

    async def _live(self, message: Message) -> None:
        if message.get("type") == "notification":
            await self.refresh()
            self.page.update()
