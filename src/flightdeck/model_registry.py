"""Imports every domain's models so the metadata is complete (Alembic, test schema checks)."""

from flightdeck.bookings import models as bookings_models
from flightdeck.flights import models as flights_models
from flightdeck.notifications import models as notifications_models
from flightdeck.payments import models as payments_models
from flightdeck.platform import audit, idempotency
from flightdeck.platform.db import Base
from flightdeck.platform.events import consumers as event_consumers
from flightdeck.platform.events import outbox
from flightdeck.users import models as users_models

__all__ = [
    "Base",
    "audit",
    "bookings_models",
    "event_consumers",
    "flights_models",
    "idempotency",
    "notifications_models",
    "outbox",
    "payments_models",
    "users_models",
]
