"""What the admin domain adds to a running server: `/admin/*` (listings, reports, users,
audit). It owns no table: every figure comes from the owning domain's service."""

from __future__ import annotations

from flightdeck.admin.router import router
from flightdeck.platform.modules import DomainModule

module = DomainModule(name="admin", routers=(router,))
