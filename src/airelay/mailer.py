"""Outgoing mail (password resets, e-mail verification) through the operator's SMTP server:
STARTTLS and login when configured. The standard library's client runs in a thread, off
the event loop."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from email.message import EmailMessage

from airelay.config import Settings

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 20.0
_sending: set[asyncio.Task[None]] = set()


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


def send_later(settings: Settings, to: str, subject: str, text: str) -> None:
    """Send in the background: the answer that asked for the mail takes as long whether
    or not one is sent (no telling which addresses have accounts), and a mail server that
    is away costs the caller nothing but a logged warning (they may ask again)."""
    task = asyncio.get_running_loop().create_task(_send_logged(settings, to, subject, text))
    _sending.add(task)
    task.add_done_callback(_sending.discard)


async def settled(timeout: float = 5.0) -> None:
    """At shutdown: let the mails being sent finish (for at most ``timeout`` seconds)."""
    pending = [task for task in _sending if task.get_loop() is asyncio.get_running_loop()]
    if pending:
        await asyncio.wait(pending, timeout=timeout)


async def _send_logged(settings: Settings, to: str, subject: str, text: str) -> None:
    try:
        await send(settings, to, subject, text)
    except Exception as exc:
        log.warning("mail %r could not be sent: %s", subject, type(exc).__name__)


def _send(settings: Settings, message: EmailMessage) -> None:
    assert settings.smtp_host is not None
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_SECONDS) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password or "")
        smtp.send_message(message)
