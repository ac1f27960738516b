"""Imports every domain's models so the metadata is complete (Alembic, test schema checks)."""

from flightdeck.flights import models as flights_models
from flightdeck.platform.db import Base
from flightdeck.platform.events import outbox
from flightdeck.users import models as users_models

__all__ = ["Base", "flights_models", "outbox", "users_models"]
