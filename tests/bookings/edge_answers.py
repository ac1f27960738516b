"""What the tests of the bookings edge (bookings/edge.py) share: who answered, read from an
edge's counter, and whether the edge's answer is the route's."""

from __future__ import annotations

import httpx
from prometheus_client import REGISTRY

# Headers that differ between two requests whatever answered them.
PER_REQUEST = {"date", "x-request-id", "ratelimit", "content-length", "location"}


def answer_counts(metric: str) -> tuple[float, float]:
    """The counter's answers from the edge and from the route, so far."""

    def sample(source: str) -> float:
        return REGISTRY.get_sample_value(metric, {"source": source}) or 0.0

    return sample("edge"), sample("route")


def assert_same_answer(edge: httpx.Response, route: httpx.Response) -> None:
    """The same status and headers (all but those of one request)."""
    assert edge.status_code == route.status_code
    edge_headers = {k: v for k, v in edge.headers.items() if k not in PER_REQUEST}
    route_headers = {k: v for k, v in route.headers.items() if k not in PER_REQUEST}
    assert edge_headers == route_headers
