"""The inbox: GET /notifications, POST /notifications/{id}/read and /read-all."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from flightdeck.platform.clock import clock
from tests.conftest import TestUser, assert_error, create_user
from tests.notifications.helpers import inbox

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def send(client: httpx.AsyncClient, staff: TestUser, user_id: str, title: str) -> None:
    response = await client.post(
        "/notifications",
        json={"user_id": user_id, "title": title, "message": f"About {title}"},
        headers=staff.headers,
    )
    assert response.status_code == 202, response.text
    assert response.json() == {"recipients": 1}


async def test_inbox_lists_the_callers_notifications_newest_first(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser
) -> None:
    other = await create_user(app, "passenger")
    for title in ("first", "second", "third"):
        await send(client, agent, passenger.id, title)
        clock.advance(timedelta(seconds=1))
    await send(client, agent, other.id, "for someone else")
    items = await inbox(client, passenger.headers)
    assert [n["title"] for n in items] == ["third", "second", "first"]
    first = items[-1]
    assert set(first) >= {"id", "title", "message", "kind", "data", "created_at", "read_at"}
    assert first["message"] == "About first"
    assert first["kind"] == "message"
    assert first["read_at"] is None
    assert [n["title"] for n in await inbox(client, other.headers)] == ["for someone else"]


async def test_inbox_pages_with_a_cursor(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    for index in range(5):
        await send(client, agent, passenger.id, f"n{index}")
        clock.advance(timedelta(seconds=1))
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/notifications", params=params, headers=passenger.headers)).json()
        seen += [n["title"] for n in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["n4", "n3", "n2", "n1", "n0"]
    bad = await client.get("/notifications?cursor=nonsense", headers=passenger.headers)
    assert_error(bad, 422, "invalid_cursor")


async def test_marking_read_sets_read_at_and_filters_unread(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    await send(client, agent, passenger.id, "old news")
    clock.advance(timedelta(seconds=1))
    await send(client, agent, passenger.id, "fresh news")
    old = next(n for n in await inbox(client, passenger.headers) if n["title"] == "old news")
    response = await client.post(f"/notifications/{old['id']}/read", headers=passenger.headers)
    assert response.status_code == 200, response.text
    read = response.json()
    assert read["id"] == old["id"] and read["read_at"] is not None
    again = await client.post(f"/notifications/{old['id']}/read", headers=passenger.headers)
    assert again.json()["read_at"] == read["read_at"]  # reading twice keeps the first time
    unread = await inbox(client, passenger.headers, unread="true")
    assert [n["title"] for n in unread] == ["fresh news"]
    assert len(await inbox(client, passenger.headers)) == 2


async def test_another_users_notification_is_not_found(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser
) -> None:
    await send(client, agent, passenger.id, "private")
    [mine] = await inbox(client, passenger.headers)
    intruder = await create_user(app, "passenger")
    response = await client.post(f"/notifications/{mine['id']}/read", headers=intruder.headers)
    assert_error(response, 404, "notification_not_found")
    missing = await client.post("/notifications/no-such-id/read", headers=passenger.headers)
    assert_error(missing, 404, "notification_not_found")
    [still_mine] = await inbox(client, passenger.headers)
    assert still_mine["read_at"] is None


async def test_read_all_marks_only_the_callers_notifications(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser
) -> None:
    other = await create_user(app, "passenger")
    await send(client, agent, passenger.id, "one")
    await send(client, agent, passenger.id, "two")
    await send(client, agent, other.id, "theirs")
    response = await client.post("/notifications/read-all", headers=passenger.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"updated": 2}
    assert await inbox(client, passenger.headers, unread="true") == []
    assert len(await inbox(client, other.headers, unread="true")) == 1


async def test_the_inbox_needs_a_signed_in_user(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/notifications"), 401)
    assert_error(await client.post("/notifications/x/read"), 401)
    assert_error(await client.post("/notifications/read-all"), 401)
