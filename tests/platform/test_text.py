"""Names, titles and messages (platform/text.py): control characters, unpaired surrogates and
bidirectional overrides refused with a 422, invisible zero-width characters stripped."""

from __future__ import annotations

import httpx
import pytest
from tests.bookings.factories import booking_body, future_flight, traveller
from tests.conftest import TestUser, assert_error

from flightdeck.platform.text import clean_text, unsafe_character

pytestmark = pytest.mark.asyncio(loop_scope="session")

REFUSED = {
    "NUL": "Ada\u0000Lovelace",
    "escape": "Ada\u001b[31mLovelace",
    "right-to-left override": "Ada\u202eecalevoL",
    "isolate": "Ada\u2066Lovelace",
    "line break in a name": "Ada\nLovelace",
}


@pytest.mark.parametrize("name", REFUSED.values(), ids=REFUSED.keys())
async def test_a_full_name_with_control_or_bidi_characters_is_refused(
    client: httpx.AsyncClient, name: str
) -> None:
    body = {"email": "ada@example.com", "password": "correct-horse-battery", "full_name": name}

    response = await client.post("/register", json=body)

    assert_error(response, 422, "validation_error")
    assert "full_name" in str(response.json()["error"]["message"])


async def test_zero_width_characters_are_stripped_from_passenger_names(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    body = booking_body(
        [flight["id"]], passengers=[traveller(first_name="G\u200brace", last_name="\ufeffHopper")]
    )

    response = await client.post("/bookings", json=body, headers=passenger.headers)

    assert response.status_code == 201, response.text
    (stored,) = response.json()["passengers"]
    assert (stored["first_name"], stored["last_name"]) == ("Grace", "Hopper")


async def test_a_notification_title_is_one_line_and_its_message_may_have_several(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    broken_title = {"user_id": passenger.id, "title": "Gate\u0000change", "message": "B7"}
    multi_line = {"user_id": passenger.id, "title": "Gate change", "message": "Now B7.\nHurry."}

    refused = await client.post("/notifications", json=broken_title, headers=agent.headers)
    sent = await client.post("/notifications", json=multi_line, headers=agent.headers)

    assert_error(refused, 422, "validation_error")
    assert sent.status_code == 202, sent.text


async def test_a_status_remark_with_a_bidi_override_is_refused(
    client: httpx.AsyncClient, agent: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    update = {"status": "delayed", "remark": "Weather \u202edeyaled"}

    response = await client.put(
        f"/flights/{flight['id']}/status", json=update, headers=agent.headers
    )

    assert_error(response, 422, "validation_error")


async def test_clean_text_normalises_strips_and_refuses() -> None:
    assert clean_text("  Zoe\u0301 \u200b") == "Zo\u00e9"  # NFC, invisible and edges gone
    assert clean_text("line one\nline two\ttab", multiline=True) == "line one\nline two\ttab"
    assert clean_text("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645") == (
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # Persian: the non-joiner stays
    )
    assert unsafe_character("ok\ud800") == "an unpaired surrogate"
    assert unsafe_character("a\u202ab") == "a bidirectional control character (U+202A)"
    assert unsafe_character("a\u007fb") == "a control character (U+007F)"
    with pytest.raises(ValueError, match="control character"):
        clean_text("two\nlines")
