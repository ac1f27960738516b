"""JSON bodies read by the endpoints that take the raw bytes themselves (sign-in, the signed
status feed, payment webhooks), answered exactly as FastAPI answers every other route:
syntactically wrong JSON is a 422 `validation_error` (`json_invalid`), a body that cannot be
read at all (not UTF-8, nested deeper than the parser's recursion limit) a 400 `invalid_body`.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.exceptions import RequestValidationError

from flightdeck.platform.errors import InvalidBody


def parse_json(raw: bytes) -> Any:
    """The JSON value in `raw`; never a RecursionError or a 500, whatever the bytes."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        message = f"The body is not valid JSON: {exc.msg} at character {exc.pos}"
        raise RequestValidationError(
            [{"loc": ("body",), "msg": message, "type": "json_invalid"}]
        ) from exc
    except (UnicodeDecodeError, RecursionError) as exc:
        raise InvalidBody() from exc
