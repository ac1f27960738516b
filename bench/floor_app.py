"""The floor of the benchmarks: a FastAPI hello-world, no work per request.

Served by bench/servers.py (`running_floor`) with the same uvicorn and workers as FlightDeck,
so a bench reports its figures as a ratio to what this machine serves when the application
does nothing. It runs uvicorn's stock HTTP protocol, a plain FastAPI hello-world's;
`flightdeck serve` runs its own (platform/http_protocol.py: a response's head and body in
one write), with which this app measured 8,459 against 8,116 req/s under the search bench's
wrk (medians of six alternating runs). Any GET path answers (query strings ignored), so a
bench can replay its own request list against the floor; `/healthz` is the readiness probe,
as on FlightDeck.
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI(title="bench floor", docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/{path:path}")
async def hello(path: str) -> dict[str, str]:
    return {"hello": "world"}
