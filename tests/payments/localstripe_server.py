"""A throwaway Stripe API server for the Stripe gateway's tests: pip `localstripe`, run as a
subprocess on a free port of 127.0.0.1 and stopped at the end (start-up and stop:
tests/servers/process.py).

It is started from scratch and kept in memory: left alone, localstripe loads its state at
start from a fixed `/tmp/localstripe.pickle` and rewrites that file on every change, so a
server stopped mid-write (or another run's server) leaves a truncated file that the next
start dies on (seen in CI: "pickle data was truncated", 19 errors). `_LAUNCH` turns both
off.

Quirks: it ignores `Idempotency-Key` (so idempotent retries
are covered by the sandbox's tests, not here); declines on charge only for 4000 0000 0000
0341 (`card_declined`); 3-D Secure cards (4000 0000 0000 3220) stay `requires_action` until
`POST /v1/payment_intents/{id}/_authenticate?client_secret=…&success=true` (its own
endpoint, standing in for the customer's bank page).
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.servers.process import ServerProcess, start_on_free_port

API_KEY = "sk_test_localstripe"

# localstripe's own entry point, with its store's disk persistence switched off.
_LAUNCH = (
    "from localstripe import resources, server;"
    "resources.Store.dump_to_disk = lambda self: None;"
    "server.start()"
)


class LocalStripe(ServerProcess):
    name = "localstripe"
    log_name = "localstripe.log"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-c", _LAUNCH, "--port", str(self.port), "--from-scratch"]

    def answers(self) -> bool:
        try:
            httpx.get(f"{self.url}/v1/customers", auth=(API_KEY, ""), timeout=1)
        except httpx.TransportError:
            return False
        return True


@contextlib.contextmanager
def running_localstripe(startup_timeout: float = 30.0, attempts: int = 3) -> Iterator[str]:
    """Starts localstripe and yields its base URL (`http://127.0.0.1:<port>`). A start that
    fails because another process took the free port meanwhile is tried again on a new one."""
    workdir = Path(tempfile.mkdtemp(prefix="localstripe-"))
    server = start_on_free_port(
        lambda port: LocalStripe(port, workdir, ready_timeout=startup_timeout), attempts
    )
    with contextlib.closing(server):
        yield server.url


def authenticate_3ds(url: str, intent_id: str, client_secret: str) -> None:
    """Completes the customer's 3-D Secure step (localstripe's own endpoint)."""
    response = httpx.post(
        f"{url}/v1/payment_intents/{intent_id}/_authenticate",
        data={"client_secret": client_secret, "success": "true"},
        auth=(API_KEY, ""),
    )
    response.raise_for_status()
