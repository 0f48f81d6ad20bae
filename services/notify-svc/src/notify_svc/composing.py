"""The MIME message. Names and subject lose CR, LF and NUL, so nothing rendered from a
case (a web form's subject, a contact's name) can add a header."""

from __future__ import annotations

import email.policy
import email.utils
import re
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage

from notify_svc.recipients import Recipient

_BREAKS = re.compile(r"[\r\n\x00]+")


def one_line(text: str) -> str:
    return _BREAKS.sub(" ", text).strip()


def message_id_for(notification_id: object) -> str:
    """Deterministic: a resend after an ambiguous failure carries the same Message-ID, so
    mail clients can tell it is the same letter."""
    return f"<{notification_id}@casestream>"


def address(addr_spec: str, name: str | None = None) -> Address:
    username, _, domain = addr_spec.strip().rpartition("@")
    return Address(display_name=one_line(name or ""), username=username, domain=domain)


def sender_address(sender: str) -> Address:
    """``"casestream <noreply@casestream.local>"`` (the setting) as an Address."""
    name, addr_spec = email.utils.parseaddr(sender)
    return address(addr_spec, name)


def compose(
    *,
    sender: str,
    recipients: list[Recipient],
    subject: str,
    body_text: str | None,
    body_html: str | None,
    message_id: str,
    correlation_id: str | None = None,
    sent_at: datetime | None = None,
) -> EmailMessage:
    message = EmailMessage(policy=email.policy.default)
    message["From"] = sender_address(sender)
    message["To"] = tuple(address(r.address, r.name) for r in recipients)
    message["Subject"] = one_line(subject)
    message["Message-ID"] = message_id
    message["Date"] = email.utils.format_datetime(sent_at or datetime.now(UTC))
    if correlation_id:  # the web form post (or API call) this email answers, for tracing
        message["X-Correlation-ID"] = one_line(correlation_id)
    message.set_content((body_text or "").replace("\x00", ""))
    if body_html:
        message.add_alternative(body_html.replace("\x00", ""), subtype="html")
    return message
