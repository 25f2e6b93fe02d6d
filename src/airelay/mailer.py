"""Outgoing mail (password resets) through the operator's SMTP server: STARTTLS and login
when configured. The standard library's client runs in a thread, off the event loop."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage

from airelay.config import Settings

TIMEOUT_SECONDS = 20.0


def mail_configured(settings: Settings) -> bool:
    return bool(settings.smtp_host)


async def send(settings: Settings, to: str, subject: str, text: str) -> None:
    """Send one plain-text mail; raises OSError / smtplib.SMTPException on failure."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    await asyncio.to_thread(_send, settings, message)


def _send(settings: Settings, message: EmailMessage) -> None:
    assert settings.smtp_host is not None
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_SECONDS) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password or "")
        smtp.send_message(message)
