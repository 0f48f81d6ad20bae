"""The MIME message. Names and subject lose CR, LF and NUL, so nothing rendered from a
case (a web form's subject, a contact's name) can add a header.

A message is a function of its email row: its Date is when the email was asked for, its
MIME boundary comes from its content, its bytes are flattened once (7-bit clean, CRLF) and
kept, so a retry after an ambiguous SMTP failure sends the very same bytes.
"""

from __future__ import annotations

import base64
import email.policy
import email.utils
import functools
import hashlib
import re
from datetime import datetime
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage
from typing import Any

from notify_svc.recipients import Recipient

_BREAKS = re.compile(r"[\r\n\x00]+")


class _Headers(HeaderRegistry):
    """The standard header classes, made once per name: the stock registry builds a new class
    for every header of every message (a fifth of notify-svc's CPU)."""

    @functools.cache  # noqa: B019 (one registry for the process's life)
    def __getitem__(self, name: str) -> type:
        return super().__getitem__(name)


_HEADERS = _Headers()
# Bodies are encoded (quoted-printable or base64) whenever they are not plain 7-bit text, so
# the bytes never depend on whether a server offers 8BITMIME.
_COMPOSING = email.policy.default.clone(cte_type="7bit", header_factory=_HEADERS)
_FLATTENING = {
    False: email.policy.SMTP.clone(cte_type="7bit", header_factory=_HEADERS),
    True: email.policy.SMTPUTF8.clone(cte_type="7bit", header_factory=_HEADERS),
}


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
    dated: datetime,
    correlation_id: str | None = None,
    attachments: list[dict[str, Any]] | None = None,
) -> EmailMessage:
    """``dated``: when the email was asked for (its row's created_at), not now.
    ``attachments``: filename, content_type and content_base64 of each."""
    message = EmailMessage(policy=_COMPOSING)
    message["From"] = sender_address(sender)
    message["To"] = tuple(address(r.address, r.name) for r in recipients)
    message["Subject"] = one_line(subject)
    message["Message-ID"] = message_id
    message["Date"] = email.utils.format_datetime(dated)
    if correlation_id:  # the web form post (or API call) this email answers, for tracing
        message["X-Correlation-ID"] = one_line(correlation_id)
    text = (body_text or "").replace("\x00", "")
    message.set_content(text)
    html = (body_html or "").replace("\x00", "")
    if html:
        message.add_alternative(html, subtype="html")
    content = hashlib.sha256(f"{message_id}\0{text}\0{html}".encode())
    for attachment in attachments or []:
        data = base64.b64decode(attachment["content_base64"])
        maintype, _, subtype = attachment["content_type"].partition("/")
        filename = one_line(attachment["filename"])
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
        content.update(data)
    # The generator would pick random boundaries. Ones derived from the content cannot occur
    # in it (nobody writes a text containing its own hash).
    digest = content.hexdigest()
    for depth, part in enumerate(p for p in message.walk() if p.is_multipart()):
        part.set_boundary(f"=_{depth}_{digest[:40]}")
    return message


def needs_smtputf8(addresses: list[str]) -> bool:
    return not all(a.isascii() for a in addresses)


def flatten(message: EmailMessage, *, utf8: bool = False) -> bytes:
    """The bytes to hand to the server, as SMTP wants them (CRLF). ``utf8`` when an address
    is not ASCII (sent with SMTPUTF8)."""
    return message.as_bytes(policy=_FLATTENING[utf8])
