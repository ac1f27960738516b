"""Server logging: FlightDeck's own loggers at `FLIGHTDECK_LOG_LEVEL`, one line per record.

uvicorn configures only its own loggers, so without this the application's INFO lines would
be dropped and its warnings printed bare. A host that configured logging itself (a root
handler, as pytest or a process supervisor's config does) is left alone.
"""

from __future__ import annotations

import logging

from flightdeck.platform.log_redaction import RedactSecretsFilter

APP_LOGGER = "flightdeck"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str) -> None:
    """Idempotent: a second call only changes the level."""
    if logging.getLogger().handlers:
        return
    logger = logging.getLogger(APP_LOGGER)
    logger.setLevel(level.upper())
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(RedactSecretsFilter())
        logger.addHandler(handler)
        logger.propagate = False
