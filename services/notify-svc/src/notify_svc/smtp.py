"""Hand messages to the SMTP server over one connection, and say of each whether a failure
is worth retrying."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence

import aiosmtplib

from notify_svc.composing import needs_smtputf8
from notify_svc.config import Settings


class DeliveryFailed(Exception):
    """Why a letter did not go; ``tried`` is False for one never handed to the server."""

    def __init__(self, reason: str, *, permanent: bool, tried: bool = True) -> None:
        super().__init__(reason)
        self.permanent = permanent
        self.tried = tried


async def send_each(
    settings: Settings,
    sender: str,
    messages: Sequence[tuple[bytes, list[str]]],
    *,
    stop_at: float | None = None,
    stopping: asyncio.Event | None = None,
    accepted: Callable[[int], Awaitable[bool]] | None = None,
) -> list[str | DeliveryFailed]:
    """Send each message (flattened, see composing) as it is, to its addresses, in order,
    over one connection. Returns for each a note on recipients the server refused while
    accepting others ("" if none), or a DeliveryFailed: permanent for a 5xx reply, temporary
    for 4xx replies, timeouts and connection errors.

    One message's refusal is its own: the server's envelope is reset (RSET) and the next
    message goes over the same connection. A connection that breaks (a timeout, which leaves
    the conversation out of step, or a disconnect) is opened again once; when that fails or
    breaks as well, the messages not yet tried get that failure, temporary. So do those not
    started by ``stop_at`` (``time.monotonic()``): the caller's lease must not run out while
    it still sends; and those not started once ``stopping`` is set (the service stops).
    ``accepted(i)`` is awaited as soon as the server has taken message ``i``; when it answers
    False (that could not be noted), the messages left are not tried. A timeout after DATA is
    ambiguous: the retry sends the same bytes, never a different message."""
    client = aiosmtplib.SMTP(
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password,
        use_tls=settings.smtp_tls == "tls",
        start_tls=settings.smtp_tls == "starttls",
        validate_certs=settings.smtp_tls_verify,
        timeout=settings.smtp_timeout_s,
    )
    results: list[str | DeliveryFailed] = []
    connections = 0
    untried: DeliveryFailed | None = None  # once set, what every message left is told
    try:
        for message, to in messages:
            if untried is None and stop_at is not None and time.monotonic() > stop_at:
                untried = DeliveryFailed(
                    "not tried: the batch ran out of time", permanent=False, tried=False
                )
            if untried is None and stopping is not None and stopping.is_set():
                untried = DeliveryFailed(
                    "not tried: the service is stopping", permanent=False, tried=False
                )
            if untried is None and not client.is_connected:
                if connections == 2:
                    untried = DeliveryFailed(
                        "not tried: the SMTP connection broke twice", permanent=False, tried=False
                    )
                else:
                    connections += 1
                    try:
                        await client.connect()
                    except Exception as error:
                        client.close()
                        untried = _failure(error)
            if untried is not None:
                results.append(untried)
                continue
            results.append(result := await _send(client, sender, message, to))
            taken = isinstance(result, str)
            if taken and accepted is not None and not await accepted(len(results) - 1):
                untried = DeliveryFailed(
                    "not tried: the letter before could not be noted as sent",
                    permanent=False,
                    tried=False,
                )
    finally:
        await _hang_up(client)
    return results


async def _send(
    client: aiosmtplib.SMTP, sender: str, message: bytes, to: list[str]
) -> str | DeliveryFailed:
    try:
        refused, _ = await client.sendmail(
            sender, to, message, mail_options=["SMTPUTF8"] if needs_smtputf8(to) else None
        )
    except Exception as error:
        if not isinstance(error, aiosmtplib.SMTPException | ValueError):
            # Unforeseen: where the conversation stands is unknown, so never reuse it
            # (aiosmtplib itself closes it on a timeout or a disconnect).
            client.close()
        return _failure(error)
    return "; ".join(f"{rcpt}: {reply.code} {reply.message}" for rcpt, reply in refused.items())


def _failure(error: Exception) -> DeliveryFailed:
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in error.recipients]
        replies = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in error.recipients)
        return DeliveryFailed(
            f"recipients refused: {replies}", permanent=all(c >= 500 for c in codes)
        )
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return DeliveryFailed(f"{error.code} {error.message}", permanent=error.code >= 500)
    if isinstance(error, TimeoutError | aiosmtplib.SMTPException | OSError):
        return DeliveryFailed(f"{type(error).__name__}: {error}", permanent=False)
    if isinstance(error, ValueError):  # an address aiosmtplib will not put on the wire
        return DeliveryFailed(f"cannot send: {error}", permanent=True)
    return DeliveryFailed(f"unexpected: {error!r}", permanent=False)


async def _hang_up(client: aiosmtplib.SMTP) -> None:
    if client.is_connected:
        with contextlib.suppress(Exception):  # polite, not needed: the mail is handed over
            await client.quit()
    client.close()
