"""External status feed: the signed webhook `POST /flights/status-feed` (both backends)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from tests.conftest import TestUser, assert_error
from tests.flights.factories import create_flight

from flightdeck.flights.status.feed import signed_headers
from flightdeck.platform.clock import utcnow

pytestmark = pytest.mark.asyncio(loop_scope="session")

SECRET = "feed-secret-" + "s" * 20
URL = "/flights/status-feed"


@pytest.fixture
def feed_secret(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(app.state.settings, "status_feed_secret", SECRET)
    yield SECRET


def feed_body(**overrides: Any) -> bytes:
    # FD101 leaves JFK at 08:30 local on 2026-12-01 (tests/flights/factories.py).
    data: dict[str, Any] = {
        "flight_number": "FD101",
        "date": "2026-12-01",
        "status": "delayed",
        "delay_minutes": 40,
        "gate": "b12",
        "remark": "Late inbound aircraft",
        "source": "ops-jfk",
    }
    data.update(overrides)
    return json.dumps(data).encode()


async def post_feed(
    client: httpx.AsyncClient, body: bytes, secret: str = SECRET, timestamp: int | None = None
) -> httpx.Response:
    return await client.post(URL, content=body, headers=signed_headers(secret, body, timestamp))


async def test_signed_update_changes_the_flight_status_as_a_feed_source(
    client: httpx.AsyncClient, agent: TestUser, feed_secret: str
) -> None:
    flight = await create_flight(client, agent.headers)
    response = await post_feed(client, feed_body())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["flight_id"] == flight["id"]
    assert (body["status"], body["delay_minutes"], body["gate"]) == ("delayed", 40, "B12")
    assert body["estimated_departure"] == "2026-12-01T09:10:00-05:00"
    history = await client.get(f"/flights/{flight['id']}/status/history", headers=agent.headers)
    assert history.json()[0]["source"] == "feed:ops-jfk"
    assert history.json()[0]["remark"] == "Late inbound aircraft"


async def test_bad_signature_is_rejected_and_nothing_changes(
    client: httpx.AsyncClient, agent: TestUser, feed_secret: str
) -> None:
    flight = await create_flight(client, agent.headers)
    response = await post_feed(client, feed_body(), secret="someone-else")
    assert_error(response, 400, "invalid_signature")
    unsigned = await client.post(URL, content=feed_body())
    assert_error(unsigned, 400, "invalid_signature")
    body = feed_body()
    tampered = signed_headers(SECRET, body)
    response = await client.post(URL, content=feed_body(delay_minutes=90), headers=tampered)
    assert_error(response, 400, "invalid_signature")
    status = await client.get(f"/flights/{flight['id']}/status")
    assert status.json()["status"] == "scheduled"


async def test_request_older_than_five_minutes_is_stale(
    client: httpx.AsyncClient, agent: TestUser, feed_secret: str
) -> None:
    await create_flight(client, agent.headers)
    six_minutes_ago = int(utcnow().timestamp()) - 360
    response = await post_feed(client, feed_body(), timestamp=six_minutes_ago)
    assert_error(response, 400, "stale_request")
    far_future = await post_feed(client, feed_body(), timestamp=10**20)
    assert_error(far_future, 400, "stale_request")
    four_minutes_ago = int(utcnow().timestamp()) - 240
    assert (await post_feed(client, feed_body(), timestamp=four_minutes_ago)).status_code == 200


async def test_unknown_flight_number_or_date_is_404(
    client: httpx.AsyncClient, agent: TestUser, feed_secret: str
) -> None:
    await create_flight(client, agent.headers)
    assert_error(await post_feed(client, feed_body(flight_number="FD999")), 404, "flight_not_found")
    assert_error(await post_feed(client, feed_body(date="2026-12-02")), 404, "flight_not_found")


async def test_transition_the_rules_refuse_is_409(
    client: httpx.AsyncClient, agent: TestUser, feed_secret: str
) -> None:
    await create_flight(client, agent.headers)
    response = await post_feed(client, feed_body(status="arrived", delay_minutes=None))
    assert_error(response, 409, "invalid_status_transition")


async def test_malformed_update_is_422(
    client: httpx.AsyncClient, agent: TestUser, feed_secret: str
) -> None:
    await create_flight(client, agent.headers)
    assert_error(await post_feed(client, b"not json"), 422, "validation_error")
    error = assert_error(await post_feed(client, feed_body(status="lost")), 422)
    assert error["details"] == {"field": "status"}


async def test_webhook_without_a_configured_secret_is_404_feature_not_configured(
    client: httpx.AsyncClient, agent: TestUser
) -> None:
    await create_flight(client, agent.headers)
    response = await post_feed(client, feed_body())
    # A 4xx: nothing is down, the feature is off (monitoring reads 5xx as an outage).
    assert_error(response, 404, "feature_not_configured")


async def test_a_multi_leg_flight_is_named_by_the_legs_origin(
    client: httpx.AsyncClient, agent: TestUser, feed_secret: str
) -> None:
    day = (utcnow() + timedelta(days=10)).date()
    filed = f"{day.day:02d}{day.strftime('%b').upper()}{day.year % 100:02d}"
    lines = ["SSM", "LT", "NEW", "FD5", f"{filed} {filed} 1234567", "J 320 Y100"]
    text = "\n".join([*lines, "AMS0700 LHR0715", "LHR0900 JFK1130"])
    created = await client.post(
        "/schedules/messages",
        content=text.encode(),
        headers={**agent.headers, "Content-Type": "text/plain"},
    )
    assert created.json()["messages"][0]["status"] == "applied", created.text

    both = await post_feed(client, feed_body(flight_number="FD5", date=day.isoformat()))
    named = await post_feed(
        client, feed_body(flight_number="FD5", date=day.isoformat(), origin="lhr")
    )

    error = assert_error(both, 422, "ambiguous_flight")
    assert error["details"]["origins"] == ["AMS", "LHR"]  # type: ignore[index]
    assert named.status_code == 200, named.text
    assert (named.json()["origin"], named.json()["status"]) == ("LHR", "delayed")
