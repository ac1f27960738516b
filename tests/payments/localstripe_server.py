"""A throwaway Stripe API server for the Stripe gateway's tests: pip `localstripe`, run as a
subprocess on a free port of 127.0.0.1 and stopped at the end.

Quirks: it keeps everything in memory; it ignores `Idempotency-Key` (so idempotent retries
are covered by the sandbox's tests, not here); declines on charge only for 4000 0000 0000
0341 (`card_declined`); 3-D Secure cards (4000 0000 0000 3220) stay `requires_action` until
`POST /v1/payment_intents/{id}/_authenticate?client_secret=…&success=true` (its own
endpoint, standing in for the customer's bank page).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

HOST = "127.0.0.1"
API_KEY = "sk_test_localstripe"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _start(startup_timeout: float, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """One attempt: localstripe on a free port, answering; else RuntimeError with its log."""
    port = _free_port()
    executable = Path(sys.executable).parent / "localstripe"
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            [str(executable), "--port", str(port)], stdout=log_file, stderr=subprocess.STDOUT
        )
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + startup_timeout
    while True:
        try:
            httpx.get(f"{url}/v1/customers", auth=(API_KEY, ""), timeout=1)
            return process, url
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                _stop(process)
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"localstripe did not start on port {port}:\n{tail}") from None
            time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def running_localstripe(startup_timeout: float = 30.0, attempts: int = 3) -> Iterator[str]:
    """Starts localstripe and yields its base URL (`http://127.0.0.1:<port>`). A start that
    fails (the free port taken meanwhile by another process) is tried again on a new port."""
    with tempfile.TemporaryDirectory(prefix="localstripe-") as workdir:
        log_path = Path(workdir) / "localstripe.log"
        for attempt in range(1, attempts + 1):
            try:
                process, url = _start(startup_timeout, log_path)
                break
            except RuntimeError:
                if attempt == attempts:
                    raise
        try:
            yield url
        finally:
            _stop(process)


def authenticate_3ds(url: str, intent_id: str, client_secret: str) -> None:
    """Completes the customer's 3-D Secure step (localstripe's own endpoint)."""
    response = httpx.post(
        f"{url}/v1/payment_intents/{intent_id}/_authenticate",
        data={"client_secret": client_secret, "success": "true"},
        auth=(API_KEY, ""),
    )
    response.raise_for_status()
