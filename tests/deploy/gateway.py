"""The gateway (deploy/nginx.conf) rendered to run here: every upstream's servers replaced by
local addresses, the listen port and temp paths made the caller's, then `nginx -t` or a real
nginx from a temp prefix.

    config = render_gateway_config({"bookings": ["127.0.0.1:8101", "127.0.0.1:8102"], ...},
                                   listen_port=8080, run_dir=tmp_path)
    with running_gateway(config, tmp_path) as base_url: ...

Upstreams not given keep no server and are pointed at a closed port (requests to them fail
with 502), so a test can run only the services it needs.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
GATEWAY_CONFIG = REPO / "deploy" / "nginx.conf"
CLOSED_PORT = "127.0.0.1:9"  # discard: nothing listens there

_UPSTREAM = re.compile(r"(upstream\s+(?P<name>[\w-]+)\s*\{)(?P<body>[^}]*)(\})")
_SERVER_LINE = re.compile(r"^(?P<indent>\s*)server\s+\S+(?P<params>[^;]*);\s*$", re.MULTILINE)


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise RuntimeError("nginx is not installed (make test installs it with apt)")
    return found


def upstream_names(config: str) -> list[str]:
    return [match["name"] for match in _UPSTREAM.finditer(config)]


def upstream_hosts(config: str) -> dict[str, list[str]]:
    """Upstream name → the `host:port` of each of its servers."""
    hosts: dict[str, list[str]] = {}
    for match in _UPSTREAM.finditer(config):
        servers = [line.split()[1] for line in re.findall(r"server\s+\S+", match["body"])]
        hosts[match["name"]] = servers
    return hosts


def render_gateway_config(
    upstreams: Mapping[str, Sequence[str]],
    *,
    listen_port: int,
    run_dir: Path,
    source: str | None = None,
    replacements: Mapping[str, str] | None = None,
) -> str:
    """deploy/nginx.conf with each upstream's servers replaced by `upstreams[name]` (every
    server keeps the original line's parameters), listening on 127.0.0.1:`listen_port`, its
    pid and temp files in `run_dir`. `replacements` changes other text verbatim (e.g. a
    higher `rate=` for a load test); each must be found."""
    config = source if source is not None else GATEWAY_CONFIG.read_text()
    unknown = set(upstreams) - set(upstream_names(config))
    if unknown:
        raise ValueError(f"no such upstream in the gateway: {sorted(unknown)}")

    def replace_servers(match: re.Match[str]) -> str:
        body = match["body"]
        line = _SERVER_LINE.search(body)
        if line is None:
            raise ValueError(f"upstream {match['name']} has no server line")
        addresses = upstreams.get(match["name"]) or [CLOSED_PORT]
        servers = "".join(
            f"\n{line['indent']}server {address}{line['params']};" for address in addresses
        )
        body = _SERVER_LINE.sub("", body, count=0)
        return f"{match.group(1)}{servers}{body}{match.group(4)}"

    config = _UPSTREAM.sub(replace_servers, config)
    config = re.sub(r"listen\s+\[::\]:\d+;\n?\s*", "", config)
    config = re.sub(r"listen\s+\d+;", f"listen 127.0.0.1:{listen_port};", config)
    config = config.replace("/tmp/", f"{run_dir}/")
    for old, new in (replacements or {}).items():
        if old not in config:
            raise ValueError(f"not in the gateway config: {old!r}")
        config = config.replace(old, new)
    return config


def write_config(config: str, run_dir: Path) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "nginx.conf"
    path.write_text(config)
    return path


def check_config(config: str, run_dir: Path) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on the config (never raises; read returncode and stderr)."""
    path = write_config(config, run_dir)
    return subprocess.run(
        [nginx_binary(), "-t", "-p", str(run_dir), "-c", str(path), "-e", str(run_dir / "e.log")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@contextlib.contextmanager
def running_gateway(config: str, run_dir: Path, listen_port: int) -> Iterator[str]:
    """A real nginx on the rendered config; yields its base URL, stops it afterwards."""
    path = write_config(config, run_dir)
    log = (run_dir / "nginx.out").open("wb")
    process = subprocess.Popen(
        [nginx_binary(), "-p", str(run_dir), "-c", str(path), "-e", "stderr",
         "-g", "daemon off;"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{listen_port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                raise RuntimeError((run_dir / "nginx.out").read_text())
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("nginx did not answer /healthz")
            time.sleep(0.05)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
