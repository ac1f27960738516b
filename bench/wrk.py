"""Load from wrk (Debian's `wrk`, C and LuaJIT): requests/s and latency percentiles.

`run_wrk(base_url, requests, ...)` replays a list of requests (GET paths, or POSTs with a
JSON body and headers) round-robin over `connections` keep-alive connections for `duration`
seconds and returns a `WrkResult`. The request list goes to wrk in a file; the Lua script
below reads it, picks each connection's next request, and prints one machine-readable line
when done. wrk counts a response that is not 2xx/3xx as `non_2xx`; a socket error (connect,
read, write, timeout) as `errors`.

`load_average()`: the machine's 1-minute load, printed beside every figure (other work on a
shared machine moves the numbers; the ratio to the floor measured in the same run does not
move as much).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# One request per line: METHOD <tab> PATH <tab> HEADER: VALUE|HEADER: VALUE <tab> BODY
_SCRIPT = r"""
local requests = {}
local parts = {}
local key_prefix = os.getenv("BENCH_KEY_PREFIX")
for line in io.lines(os.getenv("BENCH_REQUESTS")) do
  local method, path, headers, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
  local hdrs = {}
  for name, value in headers:gmatch("([^:|]+): ([^|]*)") do hdrs[name] = value end
  if body == "" then body = nil end
  requests[#requests + 1] = wrk.format(method, path, hdrs, body)
  parts[#parts + 1] = {method, path, hdrs, body}
end
local pause = tonumber(os.getenv("BENCH_PAUSE_MS") or "")
if pause then
  function delay() return pause end
end
local sent = 0
local counter = 0
local statuses = {}

function setup(thread)
  thread:set("offset", counter)
  counter = counter + 1
end

function init(args)
  index = (offset or 0) * 7919 % #requests
end

function request()
  index = index % #requests + 1
  if key_prefix then
    sent = sent + 1
    local p = parts[index]
    p[3]["Idempotency-Key"] = key_prefix .. "-" .. (offset or 0) .. "-" .. sent
    return wrk.format(p[1], p[2], p[3], p[4])
  end
  return requests[index]
end

function done(summary, latency, requests_)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "errors": %d, "non_2xx": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


@dataclass(frozen=True)
class Request:
    path: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""

    def line(self) -> str:
        headers = "|".join(f"{name}: {value}" for name, value in self.headers)
        if "\t" in self.body or "\n" in self.body:
            raise ValueError("a request body must fit on one line without tabs")
        return f"{self.method}\t{self.path}\t{headers}\t{self.body}"


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors: int
    non_2xx: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def ok_rate(self) -> float:
        """2xx/3xx answers per second."""
        return (self.requests - self.non_2xx - self.errors) / self.seconds if self.seconds else 0.0


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is not installed: `make bench-search` installs Debian's wrk")
    return found


def start_wrk(
    base_url: str,
    requests: Sequence[Request],
    *,
    workdir: Path,
    connections: int,
    duration: float,
    threads: int = 1,
    timeout: float = 10.0,
    unique_keys: bool = False,
    pause_ms: float = 0.0,
) -> subprocess.Popen[str]:
    """Starts wrk in the background; `finish_wrk` waits for it and reads its result.
    `unique_keys`: every request sent carries an `Idempotency-Key` of its own (as the app's
    holds do), where the list's requests would otherwise repeat as they are. `pause_ms`:
    each connection waits that long after an answer before its next request (wrk's
    `delay()`; its latencies leave the pause out)."""
    if not requests:
        raise ValueError("no requests to send")
    # Files of their own: another wrk may be starting from the same directory right now.
    script = Path(tempfile.mkstemp(prefix="replay-", suffix=".lua", dir=workdir)[1])
    script.write_text(_SCRIPT)
    listing = Path(tempfile.mkstemp(prefix="requests-", suffix=".txt", dir=workdir)[1])
    listing.write_text("\n".join(request.line() for request in requests) + "\n")
    command = [
        wrk_binary(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        f"--timeout={max(1, round(timeout))}s",
        "-s",
        str(script),
        base_url,
    ]
    return subprocess.Popen(  # noqa: S603 - wrk with our own arguments
        command,
        env=os.environ
        | {"BENCH_REQUESTS": str(listing)}
        | ({"BENCH_KEY_PREFIX": os.urandom(6).hex()} if unique_keys else {})
        | ({"BENCH_PAUSE_MS": str(pause_ms)} if pause_ms > 0 else {}),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish_wrk(process: subprocess.Popen[str]) -> WrkResult:
    output, _ = process.communicate(timeout=600)
    for line in output.splitlines():
        if line.startswith("BENCH_RESULT "):
            data = json.loads(line.removeprefix("BENCH_RESULT "))
            return WrkResult(
                requests=data["requests"],
                seconds=data["duration_us"] / 1e6,
                errors=data["errors"],
                non_2xx=data["non_2xx"],
                p50_ms=data["p50_us"] / 1000,
                p90_ms=data["p90_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
                max_ms=data["max_us"] / 1000,
            )
    raise SystemExit(f"wrk gave no result:\n{output}")


def run_wrk(
    base_url: str,
    requests: Sequence[Request],
    *,
    workdir: Path,
    connections: int = 32,
    duration: float = 20.0,
    threads: int = 1,
    unique_keys: bool = False,
) -> WrkResult:
    """wrk `-t{threads} -c{connections} -d{duration}s` over `requests`, round robin."""
    process = start_wrk(
        base_url,
        requests,
        workdir=workdir,
        connections=connections,
        duration=duration,
        threads=threads,
        unique_keys=unique_keys,
    )
    return finish_wrk(process)


def load_average() -> float:
    return os.getloadavg()[0]
