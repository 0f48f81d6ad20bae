"""What the SMTP sink received: every message in memory and, when given a folder, one ``.eml``
file each, so a restarted sink still lists what came before.

Each file is the message as delivered, preceded by a few ``X-Sink-*`` headers holding the SMTP
envelope (sender, recipients, arrival time) that the message itself does not carry; mail
programs open the file as an ordinary message.
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

_ID = b"X-Sink-Id"
_RECEIVED_AT = b"X-Sink-Received-At"
_MAIL_FROM = b"X-Sink-Mail-From"
_RCPT_TO = b"X-Sink-Rcpt-To"


@dataclass(frozen=True)
class StoredMessage:
    id: str
    mail_from: str
    rcpt_tos: list[str]
    received_at: datetime
    raw: bytes

    def parsed(self) -> EmailMessage:
        return BytesParser(policy=policy.default).parsebytes(self.raw)  # type: ignore[return-value]

    @functools.cached_property
    def headline(self) -> dict[str, Any]:
        """The summary, parsed once and from the headers alone (a body's MIME parts cost
        three quarters of a full parse): listing hundreds of messages stays fast."""
        headers = BytesParser(policy=policy.default).parsebytes(self.raw, headersonly=True)
        return self.summary(headers)  # type: ignore[arg-type]

    def summary(self, message: EmailMessage | None = None) -> dict[str, Any]:
        message = message or self.parsed()
        return {
            "id": self.id,
            "from": self.mail_from,
            "to": self.rcpt_tos,
            "subject": str(message.get("Subject", "")),
            "received_at": self.received_at.isoformat(),
            "message_id": _header(message, "Message-ID"),
        }

    def detail(self) -> dict[str, Any]:
        message = self.parsed()
        headers: dict[str, str | list[str]] = {}
        for name, value in message.items():
            # A header that appears more than once (Received, say) becomes a list.
            if name in headers:
                previous = headers[name]
                headers[name] = (
                    [*previous, str(value)]
                    if isinstance(previous, list)
                    else [previous, str(value)]
                )
            else:
                headers[name] = str(value)
        return {
            **self.summary(message),
            "headers": headers,
            "text": _body(message, "plain"),
            "html": _body(message, "html"),
            "attachments": [
                {
                    "filename": part.get_filename(),
                    "content_type": part.get_content_type(),
                    "size": len(part.get_payload(decode=True) or b""),
                }
                for part in message.iter_attachments()
            ],
            "raw": self.raw.decode("utf-8", errors="replace"),
        }

    def to_file_bytes(self) -> bytes:
        envelope = [
            _ID + b": " + self.id.encode(),
            _RECEIVED_AT + b": " + self.received_at.isoformat().encode(),
            _MAIL_FROM + b": " + self.mail_from.encode(),
            _RCPT_TO + b": " + ", ".join(self.rcpt_tos).encode(),
        ]
        return b"\r\n".join(envelope) + b"\r\n" + self.raw

    @classmethod
    def from_file_bytes(cls, data: bytes) -> StoredMessage:
        fields: dict[bytes, str] = {}
        while data.startswith(b"X-Sink-"):
            line, _, data = data.partition(b"\n")
            name, _, value = line.rstrip(b"\r").partition(b":")
            fields[name] = value.strip().decode()
        return cls(
            id=fields[_ID],
            mail_from=fields.get(_MAIL_FROM, ""),
            rcpt_tos=[r.strip() for r in fields.get(_RCPT_TO, "").split(",") if r.strip()],
            received_at=datetime.fromisoformat(fields[_RECEIVED_AT]),
            raw=data,
        )


class MailStore:
    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self._messages: dict[str, StoredMessage] = {}

    def load(self) -> int:
        """Read back the messages a previous run saved. Returns how many."""
        self._messages.clear()
        if self.folder is None:
            return 0
        self.folder.mkdir(parents=True, exist_ok=True)
        loaded = []
        for path in self.folder.glob("*.eml"):
            try:
                loaded.append(StoredMessage.from_file_bytes(path.read_bytes()))
            except (KeyError, ValueError):
                continue  # not one of ours (or truncated): leave it alone
        for message in sorted(loaded, key=lambda m: m.received_at):
            self._messages[message.id] = message
        return len(loaded)

    def add(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> StoredMessage:
        message = StoredMessage(
            id=str(uuid.uuid4()),
            mail_from=mail_from,
            rcpt_tos=rcpt_tos,
            received_at=datetime.now(UTC),
            raw=raw,
        )
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._path(message).write_bytes(message.to_file_bytes())
        self._messages[message.id] = message
        return message

    def messages(self) -> list[StoredMessage]:
        """Oldest first, newest last."""
        return list(self._messages.values())

    def get(self, message_id: str) -> StoredMessage | None:
        return self._messages.get(message_id)

    def delete(self, message_id: str) -> bool:
        message = self._messages.pop(message_id, None)
        if message is None:
            return False
        if self.folder is not None:
            with contextlib.suppress(FileNotFoundError):
                self._path(message).unlink()
        return True

    def clear(self) -> int:
        ids = list(self._messages)
        for message_id in ids:
            self.delete(message_id)
        return len(ids)

    def _path(self, message: StoredMessage) -> Path:
        assert self.folder is not None
        stamp = message.received_at.strftime("%Y%m%dT%H%M%S%f")
        return self.folder / f"{stamp}-{message.id}.eml"


def _header(message: EmailMessage, name: str) -> str | None:
    value = message.get(name)
    return str(value).strip() if value is not None else None


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    try:
        content = part.get_content()
    except (LookupError, UnicodeDecodeError):
        content = (part.get_payload(decode=True) or b"").decode("utf-8", errors="replace")
    # SMTP delivers CRLF line ends; readers want the text as written.
    return content.replace("\r\n", "\n")
