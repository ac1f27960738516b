"""Access tokens in WebSocket URLs never reach the server logs."""

from __future__ import annotations

import logging

import pytest

from flightdeck.platform.log_redaction import install_log_redaction


def test_websocket_handshake_log_line_has_the_token_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_log_redaction()
    install_log_redaction()  # idempotent: one filter
    logger = logging.getLogger("uvicorn.error")
    assert len(logger.filters) == 1
    with caplog.at_level(logging.INFO, logger="uvicorn.error"):
        logger.info(
            '%s - "WebSocket %s" [accepted]', "127.0.0.1:5000", "/ws?token=eyJabc.def.ghi&x=1"
        )
    assert "eyJabc" not in caplog.text
    assert "/ws?token=[redacted]&x=1" in caplog.text
