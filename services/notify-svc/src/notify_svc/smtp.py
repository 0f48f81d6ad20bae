"""Hand a message to the SMTP server, and say whether a failure is worth retrying."""

from __future__ import annotations

import aiosmtplib

from notify_svc.config import Settings


class DeliveryFailed(Exception):
    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.permanent = permanent


async def send(
    settings: Settings, message: bytes, sender: str, to: list[str], *, smtputf8: bool = False
) -> str:
    """Send ``message`` (flattened, see composing) as it is. Returns a note on recipients the
    server refused while accepting others ("" if none). Raises DeliveryFailed: permanent for
    a 5xx reply, temporary for 4xx replies, timeouts and connection errors. A timeout after
    DATA is ambiguous: the retry sends the same bytes, never a different message."""
    try:
        refused, _ = await aiosmtplib.send(
            message,
            sender=sender,
            recipients=to,
            mail_options=["SMTPUTF8"] if smtputf8 else None,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            use_tls=settings.smtp_tls == "tls",
            start_tls=settings.smtp_tls == "starttls",
            validate_certs=settings.smtp_tls_verify,
            timeout=settings.smtp_timeout_s,
        )
    except aiosmtplib.SMTPRecipientsRefused as error:
        codes = [r.code for r in error.recipients]
        replies = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in error.recipients)
        raise DeliveryFailed(
            f"recipients refused: {replies}", permanent=all(c >= 500 for c in codes)
        ) from error
    except aiosmtplib.SMTPResponseException as error:
        raise DeliveryFailed(
            f"{error.code} {error.message}", permanent=error.code >= 500
        ) from error
    except (TimeoutError, aiosmtplib.SMTPException, OSError) as error:
        raise DeliveryFailed(f"{type(error).__name__}: {error}", permanent=False) from error
    return "; ".join(f"{rcpt}: {reply.code} {reply.message}" for rcpt, reply in refused.items())
