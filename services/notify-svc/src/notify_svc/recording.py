"""What the delivery worker writes about a batch: the drafts (with the bytes to send) before
anything is sent, then the outcomes and their events. Each is one statement for the whole
batch, joined to a VALUES list of the rows, and every row is guarded by its claim (same id,
still queued, same attempts): a worker whose lease ran out, and whose email another one
took, changes nothing."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from prometheus_client import Counter

from casestream import topics
from casestream.logging import get_logger
from casestream.persistence.database import Transaction
from casestream.tracing import traced
from notify_svc.config import Settings
from notify_svc.drafting import Draft
from notify_svc.events import EVENT_TYPES, email_event
from notify_svc.tables import emails

log = get_logger(__name__)

# Outcome statuses besides the final ones (sent, failed, suppressed).
RETRY = "retry"  # a temporary failure: again later, after a backoff


@dataclass
class Drafted:
    """A first attempt's draft; ``raw`` is the message to send, None if it is not sent."""

    row: Any
    draft: Draft
    raw: bytes | None
    notes: str | None  # recipients that could not be resolved


@dataclass
class Outcome:
    row: Any
    status: str  # sent, failed, suppressed or RETRY
    error: str | None = None


async def record_drafts(tx: Transaction, drafted: list[Drafted]) -> set[uuid.UUID]:
    """Record what each email says (and the bytes every attempt will send). Returns the ids
    still ours: only those may be sent."""
    if not drafted:
        return set()
    v = _values(
        ("subject", "body_text", "body_html", "recipients", "raw_message", "unresolved"),
        [
            (
                d.row,
                d.draft.subject,
                d.draft.body_text,
                d.draft.body_html,
                [r.as_dict() for r in d.draft.recipients],
                d.raw,
                d.notes,
            )
            for d in drafted
        ],
    )
    recorded = await tx.session.execute(
        _ours(v)
        .values(
            subject=v.c.subject,
            body_text=v.c.body_text,
            body_html=v.c.body_html,
            recipients=v.c.recipients,
            raw_message=v.c.raw_message,
            unresolved=v.c.unresolved,
        )
        .returning(emails.c.id)
    )
    return set(recorded.scalars())


# For alerts on failing email (deploy/k8s/monitoring): counted once their outcome committed.
emails_finished = Counter(
    "casestream_emails_total",
    "Emails whose fate is known, by status (sent, failed, suppressed)",
    ["service", "status"],
)


async def settle(tx: Transaction, settings: Settings, outcomes: list[Outcome]) -> None:
    """Write the outcomes, and publish an event for each email whose fate is now known."""
    await _finish(tx, settings, [o for o in outcomes if o.status in EVENT_TYPES])
    await _retry_later(tx, settings, [o for o in outcomes if o.status == RETRY])


async def _finish(tx: Transaction, settings: Settings, finals: list[Outcome]) -> None:
    if not finals:
        return
    v = _values(("status", "last_error"), [(o.row, o.status, o.error) for o in finals])
    finished = await tx.session.execute(
        _ours(v)
        .values(
            status=v.c.status,
            last_error=v.c.last_error,
            next_attempt_at=None,
            sent_at=sa.case((v.c.status == "sent", sa.func.now())),
        )
        .returning(emails)
    )
    events = []
    for row in finished:
        # Each event carries the correlation id of the request its email answers.
        with traced(row.correlation_id, str(row.notification_id)):
            events.append((settings.topic(topics.NOTIFY_EVENTS), email_event(row)))
        _log_after_commit(tx, row, log.info, "email " + row.status, error=row.last_error)
        tx.after_commit(emails_finished.labels(settings.service_name, row.status).inc)
    await tx.publish_many(events)


async def _retry_later(tx: Transaction, settings: Settings, retries: list[Outcome]) -> None:
    if not retries:
        return
    s = settings
    rows = []
    for o in retries:
        delay = min(s.send_backoff_initial_s * 2 ** (o.row.attempts - 1), s.send_backoff_max_s)
        delay *= random.uniform(0.5, 1.5)  # jitter: retries of one outage do not arrive together
        rows.append((o.row, o.error, timedelta(seconds=delay)))
        _log_after_commit(
            tx,
            o.row,
            log.warning,
            "email will be retried",
            attempts=o.row.attempts,
            in_s=round(delay, 1),
            error=o.error,
        )
    v = _values(("last_error", "delay"), rows, delay=sa.Interval())
    await tx.session.execute(
        _ours(v).values(last_error=v.c.last_error, next_attempt_at=sa.func.now() + v.c.delay)
    )


def _values(names: tuple[str, ...], rows: list[tuple[Any, ...]], **types: Any) -> Any:
    """A VALUES list ``v(id, attempts, *names)`` of claimed rows (each tuple: the claimed
    row, then its values for ``names``), typed like the emails columns of those names."""
    columns = [
        sa.column("id", emails.c.id.type),
        sa.column("attempts", emails.c.attempts.type),
        *(sa.column(n, types[n] if n in types else emails.c[n].type) for n in names),
    ]
    data = [
        # A bare NULL would make a column of NULLs text, which a bytea column refuses.
        tuple(
            sa.cast(sa.null(), c.type) if value is None else value
            for c, value in zip(columns, (row.id, row.attempts, *values), strict=True)
        )
        for row, *values in rows
    ]
    return sa.values(*columns, name="v").data(data)


def _ours(v: Any) -> Any:
    return emails.update().where(
        emails.c.id == v.c.id, emails.c.status == "queued", emails.c.attempts == v.c.attempts
    )


def _log_after_commit(
    tx: Transaction, row: Any, write: Callable[..., Any], message: str, **fields: Any
) -> None:
    """Say what happened once it has (the commit), with the email's correlation id."""

    def logged() -> None:
        with traced(row.correlation_id, str(row.notification_id)):
            write(message, email_id=str(row.id), case_id=str(row.case_id), **fields)

    tx.after_commit(logged)
