"""From claimed emails to letters. A first attempt is drafted from the read model (one read
for the whole batch), composed and flattened; or it ends here without sending (cannot
render, do-not-email, no recipient) or waits for its case. A later attempt is the bytes
recorded for the first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from casestream.logging import get_logger
from casestream.persistence.database import Database
from casestream.settings import StaffToken
from notify_svc.composing import compose, flatten, needs_smtputf8
from notify_svc.config import Settings
from notify_svc.drafting import CaseNotKnown, Known, Request, draft, read_known
from notify_svc.recipients import staff_directory
from notify_svc.recording import RETRY, Drafted, Outcome
from notify_svc.rendering import CannotRender

log = get_logger(__name__)


@dataclass
class Letter:
    """A message to hand to the server: its bytes, the addresses, and notes on recipients
    that could not be resolved (for the final record)."""

    row: Any
    raw: bytes
    to: list[str]
    notes: str | None


@dataclass
class Prepared:
    """A first attempt, ready for the transaction before any send."""

    row: Any
    drafted: Drafted | None = None  # to record
    letter: Letter | None = None  # to send, once recorded
    outcome: Outcome | None = None  # ended (or waiting) unsent


def recorded(row: Any) -> Letter:
    """Tried before, with an outcome unknown: the very same bytes again."""
    to = [r["address"] for r in row.recipients if not r.get("suppressed")]
    return Letter(row, row.raw_message, to, row.unresolved)


async def prepare(database: Database, settings: Settings, rows: list[Any]) -> list[Prepared]:
    """Draft and compose first attempts (``rows``: claimed, nothing recorded yet)."""
    requests = [
        Request(
            row.case_id,
            row.to_spec,
            row.template,
            {"subject": row.subject, "body_text": row.body_text, "body_html": row.body_html},
            row.activity,
            row.quotation,
            row.invoice,
        )
        for row in rows
    ]
    async with database.session() as session:
        known = await read_known(session, requests)
    staff = staff_directory(settings.staff_tokens)
    prepared = []
    for row, request in zip(rows, requests, strict=True):
        try:
            prepared.append(_prepare(settings, row, request, known, staff))
        except Exception as error:  # one email's surprise is not the batch's
            log.error("preparing failed unexpectedly", email_id=str(row.id), error=repr(error))
            if row.attempts >= settings.send_max_attempts:
                failed = Outcome(row, "failed", f"unexpected: {error!r}")
                prepared.append(Prepared(row, outcome=failed))
            # else: its lease brings it back.
    return prepared


def _prepare(
    settings: Settings,
    row: Any,
    request: Request,
    known: Known,
    staff: dict[str, StaffToken],
) -> Prepared:
    try:
        drafted = draft(request, known, staff)
    except CaseNotKnown as error:
        # A command waits for its case before it is queued (held); an email posted over
        # HTTP may be a moment ahead of its case: an ordinary retry, with backoff.
        return Prepared(row, outcome=Outcome(row, RETRY, f"case {error} is not known yet"))
    except CannotRender as error:
        return Prepared(row, outcome=Outcome(row, "failed", f"cannot render: {error}"))
    deliverable = [r for r in drafted.recipients if not r.suppressed]
    notes = "; ".join(drafted.unresolved) or None
    unsent = Drafted(row, drafted, None, notes)
    if not deliverable:
        if drafted.recipients:
            return Prepared(row, unsent, outcome=Outcome(row, "suppressed", notes))
        return Prepared(row, unsent, outcome=Outcome(row, "failed", f"no recipient: {notes}"))
    to = [r.address for r in deliverable]
    try:
        message = compose(
            sender=settings.smtp_sender,
            recipients=deliverable,
            subject=drafted.subject,
            body_text=drafted.body_text,
            body_html=drafted.body_html,
            message_id=row.message_id,
            dated=row.created_at,
            correlation_id=row.correlation_id,
            attachments=row.attachments,
        )
        raw = flatten(message, utf8=needs_smtputf8(to))
    except (ValueError, TypeError) as error:  # an address or header email refuses
        return Prepared(row, unsent, outcome=Outcome(row, "failed", f"cannot compose: {error}"))
    return Prepared(row, Drafted(row, drafted, raw, notes), letter=Letter(row, raw, to, notes))
