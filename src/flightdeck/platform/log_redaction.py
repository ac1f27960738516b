"""Keeps secrets that travel in URLs (the WebSocket `?token=`) out of the server logs."""

from __future__ import annotations

import logging
import re

_SECRET_QUERY = re.compile(r"(?i)\b(token|access_token|refresh_token)=[^&\s\"']+")

# uvicorn logs WebSocket handshakes (with their query string) and HTTP access lines here.
SERVER_LOGGERS = ("uvicorn.error", "uvicorn.access")


def redact(text: str) -> str:
    return _SECRET_QUERY.sub(r"\1=[redacted]", text)


class RedactSecretsFilter(logging.Filter):
    """Rewrites a record's message and arguments with query-string secrets replaced."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def install_log_redaction() -> None:
    """Adds the filter to the server's loggers once (idempotent)."""
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecretsFilter) for f in logger.filters):
            logger.addFilter(RedactSecretsFilter())
