"""What the search domain adds to a running server: `GET /search` (it reads flights through
the flights domain's itineraries service; its cache is dropped by flight changes), and the
edge that answers searches before routing (search/edge.py)."""

from __future__ import annotations

from flightdeck.platform.modules import DomainModule
from flightdeck.search.edge import SearchEdge
from flightdeck.search.router import router

module = DomainModule(name="search", routers=(router,), middleware=(SearchEdge,))
