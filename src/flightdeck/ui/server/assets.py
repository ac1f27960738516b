"""The web client's files, compressed once and cached hard: what a CDN in front can keep.

Flutter's build names no file by content, so the client is served under a versioned prefix
(`/_flet/<version>/…`, the version naming the flet-web release and our patches): everything
there is `immutable` for a year. The page itself (`/`) is revalidated (`no-cache` + ETag).
Text and WebAssembly files go out brotli- or gzip-compressed, each variant compressed once on
first request into a cache directory (quality 5: about a second for the largest file).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import mimetypes
import os
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

import anyio.to_thread
import brotli
from starlette.requests import Request
from starlette.responses import FileResponse, Response

log = logging.getLogger(__name__)

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
# Files worth compressing, by suffix ("" is Flutter's NOTICES); images and woff2 already are.
COMPRESSIBLE = {
    "",
    ".js",
    ".mjs",
    ".wasm",
    ".json",
    ".html",
    ".css",
    ".otf",
    ".ttf",
    ".txt",
    ".symbols",
    ".map",
    ".svg",
}
MIN_COMPRESS_BYTES = 1024
BROTLI_QUALITY = 5
GZIP_LEVEL = 6
SUFFIX_BY_ENCODING = {"br": ".br", "gzip": ".gz"}

mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("application/wasm", ".wasm")


def compress(data: bytes, encoding: str) -> bytes:
    if encoding == "br":
        return bytes(brotli.compress(data, quality=BROTLI_QUALITY))
    return gzip.compress(data, GZIP_LEVEL, mtime=0)


def preferred_encoding(accept_encoding: str) -> str | None:
    """`br` or `gzip` when the client accepts it (q > 0), brotli first; else None."""
    accepted: set[str] = set()
    for part in accept_encoding.lower().split(","):
        name, _, params = part.strip().partition(";")
        quality = params.strip().removeprefix("q=")
        if params and quality.replace(".", "", 1).isdigit() and float(quality) == 0:
            continue
        accepted.add(name.strip())
    for encoding in ("br", "gzip"):
        if encoding in accepted or "*" in accepted:
            return encoding
    return None


def media_type_of(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def is_compressible(name: str, size: int) -> bool:
    return Path(name).suffix.lower() in COMPRESSIBLE and size >= MIN_COMPRESS_BYTES


def _not_modified(request: Request, etag: str, last_modified: float) -> bool:
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return etag in tags or "*" in tags
    if_modified_since = request.headers.get("if-modified-since")
    if if_modified_since:
        try:
            return int(last_modified) <= parsedate_to_datetime(if_modified_since).timestamp()
        except (TypeError, ValueError):
            return False
    return False


@dataclass(frozen=True)
class MemoryFile:
    """A small generated file (the patched page and manifests), with its variants."""

    body: bytes
    media_type: str
    modified: float
    variants: Mapping[str, bytes]

    @classmethod
    def of(cls, name: str, body: bytes, modified: float) -> MemoryFile:
        variants = {}
        if is_compressible(name, len(body)):
            variants = {encoding: compress(body, encoding) for encoding in SUFFIX_BY_ENCODING}
        return cls(body, media_type_of(name), modified, variants)

    def response(
        self, request: Request, cache_control: str, headers: Mapping[str, str]
    ) -> Response:
        encoding = preferred_encoding(request.headers.get("accept-encoding", ""))
        body = self.variants.get(encoding or "", self.body)
        used = encoding if body is not self.body else None
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        common = {
            "cache-control": cache_control,
            "etag": etag,
            "last-modified": formatdate(self.modified, usegmt=True),
            "vary": "Accept-Encoding",
            **headers,
        }
        if _not_modified(request, etag, self.modified):
            return Response(status_code=304, headers=common)
        if used:
            common["content-encoding"] = used
        return Response(body, media_type=self.media_type, headers=common)


class ClientFiles:
    """The client's files under one version: `web_dir` plus in-memory `generated` files (same
    relative paths win), compressed variants kept under `cache_dir/<version>/`."""

    def __init__(
        self, web_dir: Path, generated: Mapping[str, MemoryFile], cache_dir: Path, version: str
    ) -> None:
        self.web_dir = web_dir.resolve()
        self.generated = dict(generated)
        self.cache_dir = cache_dir / version
        self.version = version
        self._locks: dict[Path, asyncio.Lock] = {}

    def resolve(self, relative: str) -> Path | None:
        """The file for `relative`, or None (missing, a directory, or outside the web root)."""
        candidate = (self.web_dir / relative).resolve()
        if not candidate.is_relative_to(self.web_dir) or not candidate.is_file():
            return None
        return candidate

    async def response(
        self, request: Request, relative: str, headers: Mapping[str, str]
    ) -> Response | None:
        """The file at `relative` (immutable: the version is in the URL), or None if absent."""
        generated = self.generated.get(relative)
        if generated is not None:
            return generated.response(request, IMMUTABLE, headers)
        source = self.resolve(relative)
        if source is None:
            return None
        stat = source.stat()
        encoding = preferred_encoding(request.headers.get("accept-encoding", ""))
        if encoding and is_compressible(source.name, stat.st_size):
            variant = await self._variant(source, relative, stat, encoding)
        else:
            variant, encoding = None, None
        etag = f'"{stat.st_size:x}-{stat.st_mtime_ns:x}-{encoding or "identity"}"'
        common = {
            "cache-control": IMMUTABLE,
            "etag": etag,
            "last-modified": formatdate(stat.st_mtime, usegmt=True),
            "vary": "Accept-Encoding",
            **headers,
        }
        if _not_modified(request, etag, stat.st_mtime):
            return Response(status_code=304, headers=common)
        if variant is None:
            return FileResponse(source, media_type=media_type_of(source.name), headers=common)
        common["content-encoding"] = encoding or ""
        return FileResponse(variant, media_type=media_type_of(source.name), headers=common)

    async def _variant(
        self, source: Path, relative: str, stat: os.stat_result, encoding: str
    ) -> Path | None:
        """The compressed copy of `source` (made now if missing); None if it cannot be made."""
        stamp = f"{stat.st_size:x}-{stat.st_mtime_ns:x}"
        target = self.cache_dir / f"{relative}.{stamp}{SUFFIX_BY_ENCODING[encoding]}"
        if target.is_file():
            return target
        lock = self._locks.setdefault(target, asyncio.Lock())
        async with lock:
            if not target.is_file():
                try:
                    await anyio.to_thread.run_sync(_write_compressed, source, target, encoding)
                except OSError as exc:  # a read-only or full disk costs size, not the page
                    log.warning("cannot cache a compressed %s: %s", relative, exc)
                    return None
        self._locks.pop(target, None)
        return target


def _write_compressed(source: Path, target: Path, encoding: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    partial.write_bytes(compress(source.read_bytes(), encoding))
    os.replace(partial, target)  # atomic: a concurrent reader sees all or nothing
