"""Response type for instants shown in an airport's local offset."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import PlainSerializer

# Pydantic writes a zero offset as "Z"; a local time at a UTC+0 airport reads better as
# "+00:00", the same shape as every other airport's offset.
LocalInstant = Annotated[
    datetime, PlainSerializer(lambda value: value.isoformat(), return_type=str, when_used="json")
]
