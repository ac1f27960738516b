"""An idempotent route's response (platform/idempotency.py, `IdempotentResponse.response`): a
model is serialised by pydantic in one pass, to the same bytes `JSONResponse` writes for its
JSON-mode dict (what the routes returned before); a replayed answer says so in a header."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from flightdeck.platform.idempotency import REPLAYED_HEADER, IdempotentResponse


class _Passenger(BaseModel):
    first_name: str
    born: date


class _Answer(BaseModel):
    id: str
    created_at: datetime
    amount: Decimal
    share: float
    passengers: list[_Passenger]
    note: str | None = None


ANSWER = _Answer(
    id="b-1",
    created_at=datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=UTC),
    amount=Decimal("199.90"),
    share=0.1,
    passengers=[_Passenger(first_name='Zoë Ōtsuka "Ō" ✈', born=date(1990, 2, 28))],
)


def test_a_model_is_written_as_jsonresponse_writes_its_json_dict() -> None:
    response = IdempotentResponse(201, ANSWER, replayed=False).response()
    expected = JSONResponse(ANSWER.model_dump(mode="json"), status_code=201)
    assert response.body == expected.body
    assert response.status_code == 201
    assert response.headers["content-type"] == expected.headers["content-type"]
    assert REPLAYED_HEADER not in response.headers


def test_a_replayed_answer_is_its_stored_json_with_the_replayed_header() -> None:
    stored = json.loads(ANSWER.model_dump_json())
    response = IdempotentResponse(201, stored, replayed=True).response()
    assert json.loads(response.body) == ANSWER.model_dump(mode="json")
    assert response.headers[REPLAYED_HEADER] == "true"
