"""Email: the message built from a notification, and the SMTP sender (`aiosmtplib`)."""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formataddr, formatdate

import aiosmtplib

from flightdeck.notifications.models import Notification
from flightdeck.platform.settings import Settings
from flightdeck.users.service import UserContact

log = logging.getLogger(__name__)

# Waits between attempts; a message is tried len(RETRY_DELAYS) + 1 times.
RETRY_DELAYS = (0.5, 2.0, 5.0)
SEND_TIMEOUT_SECONDS = 15.0
MESSAGE_ID_DOMAIN = "flightdeck.local"

_FOOTER = (
    "You receive these emails because email notifications are on in your FlightDeck profile. "
    "Turn them off there at any time; every notification stays in your inbox in the app."
)


def _one_line(value: str) -> str:
    """Header text on one line: a title or name with a line break cannot inject headers."""
    return " ".join(value.split())


def render_email(notification: Notification, contact: UserContact, sender: str) -> EmailMessage:
    """The email for one notification: plain text with an HTML alternative. Its Message-ID is
    derived from the notification id, so a receiving server can drop a rare duplicate."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = formataddr((_one_line(contact.full_name), contact.email))
    message["Subject"] = _one_line(notification.title)
    message["Date"] = formatdate(notification.created_at.timestamp(), usegmt=True)
    message["Message-ID"] = f"<notification-{notification.id}@{MESSAGE_ID_DOMAIN}>"
    message["X-FlightDeck-Notification"] = notification.id
    message["X-FlightDeck-Kind"] = notification.kind
    name = contact.full_name.strip() or "traveller"
    message.set_content(f"Hello {name},\n\n{notification.message}\n\n-- \nFlightDeck\n{_FOOTER}\n")
    message.add_alternative(
        "<!doctype html><html><body>"
        f"<p>Hello {html.escape(name)},</p>"
        f"<h2>{html.escape(notification.title)}</h2>"
        f"<p>{html.escape(notification.message)}</p>"
        f'<p style="color:#666;font-size:small">FlightDeck. {html.escape(_FOOTER)}</p>'
        "</body></html>",
        subtype="html",
    )
    return message


def _is_permanent(exc: Exception) -> bool:
    """A 5xx reply (bad address, refused, auth failed) will not succeed on a retry."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return True
    return isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code >= 500


class Mailer:
    """Sends email through the SMTP server in the settings (`smtp_host` empty: disabled).
    Reads the settings at each send, so a changed configuration applies at once."""

    def __init__(self, settings: Settings, *, retry_delays: Sequence[float] = RETRY_DELAYS):
        self.settings = settings
        self.retry_delays = tuple(retry_delays)

    @property
    def enabled(self) -> bool:
        return bool(self.settings.smtp_host)

    @property
    def sender(self) -> str:
        return self.settings.smtp_from

    async def _send_once(self, message: EmailMessage) -> None:
        settings = self.settings
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username or None,
            password=settings.smtp_password or None,
            start_tls=settings.smtp_starttls,
            timeout=SEND_TIMEOUT_SECONDS,
        )

    async def send(self, message: EmailMessage) -> tuple[bool, int]:
        """Sends the message, retrying transient failures with growing waits. Never raises:
        returns (sent, attempts made); a final failure is logged."""
        attempts = 0
        for delay in (*self.retry_delays, None):
            attempts += 1
            try:
                await self._send_once(message)
                return True, attempts
            except (aiosmtplib.SMTPException, OSError) as exc:
                if delay is None or _is_permanent(exc):
                    # The Message-ID names the notification; the address stays out of the logs.
                    log.error(
                        "email %s failed after %d attempt(s): %r",
                        message["Message-ID"],
                        attempts,
                        exc,
                    )
                    return False, attempts
                log.warning("email %s: attempt %d failed: %r", message["Message-ID"], attempts, exc)
                await asyncio.sleep(delay)
        return False, attempts  # not reached: the last delay is None
