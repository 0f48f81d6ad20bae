"""Commands sent again when their outcome never came (the command, or its answer, was lost on
the way: a broker that lost its data, say).

Each command a rule sends is kept in ``awaited_commands``, written with the command by the
transaction that sends it, until its outcome comes: an event that names the command as its
cause (case-svc's and activity-svc's events carry the command's id as their causation id;
notify-svc's email events the email's notification id, which is the command's id too), or,
for a case command, the case showing what it asked for (``actions.effect_shows``: case-svc
says nothing of a command that changes nothing). One still without an outcome
``redrive_after_s`` after it was last sent is sent again, the same command as first sent:

- ``notify.send_email`` as a message of its own (a new envelope id per attempt), so that no
  inbox takes it for the first: notify-svc sends one email per notification id and answers
  a repeat of an email whose fate it knows by saying that fate again.
- the case and activity commands with their own id again: their receivers know a command
  only by its envelope id (case-svc's inbox; activity-svc makes it the new activity's
  source), so under a new id it would be carried out again (a second activity; a status
  set back after someone moved the case on). One that was handled is dropped by the inbox
  without a word, one that was lost is handled now.

A command sent ``redrive_max_attempts`` times in all without an outcome is given up, and
logged: one its receiver refuses (dead-lettered there) is never answered.
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from automation_svc import read_models
from automation_svc.actions import effect_shows
from automation_svc.config import Settings
from automation_svc.tables import awaited_commands
from casestream import metrics
from casestream.contracts.notify import SEND_EMAIL
from casestream.envelope import Envelope
from casestream.logging import get_logger
from casestream.messaging.redrive import redrive_forever
from casestream.persistence.database import Database, Transaction
from casestream.persistence.upserts import any_of

log = get_logger(__name__)

MESSAGE_NAMESPACE = uuid.UUID("1d7b3e0a-6c2f-4b8e-a5d1-9f4e2c7b0a63")


def message_id(action_id: uuid.UUID, attempt: int) -> uuid.UUID:
    """The envelope id of an email command's ``attempt``-th sending: the action's id first,
    then one of its own for each repeat."""
    return action_id if attempt == 1 else uuid.uuid5(MESSAGE_NAMESPACE, f"{action_id}:{attempt}")


async def await_outcomes(tx: Transaction, messages: list[tuple[str, Envelope[Any]]]) -> None:
    """Keep the commands ``tx`` sends until their outcomes come."""
    if messages:
        await tx.session.execute(
            insert(awaited_commands).on_conflict_do_nothing(),
            [dict(id=e.id, topic=t, envelope=e.model_dump(mode="json")) for t, e in messages],
        )


def caused_by(envelopes: Iterable[Envelope[Any]]) -> set[uuid.UUID]:
    """The messages these events name as their cause (some are commands of ours)."""
    causes = set()
    for envelope in envelopes:
        # Not a UUID (an HTTP request's id, say): not a command of ours.
        with contextlib.suppress(ValueError):
            causes.add(uuid.UUID(envelope.causation_id or ""))
    return causes


async def outcomes_came(tx: Transaction, command_ids: Iterable[uuid.UUID]) -> None:
    """These commands' outcomes came: they are awaited no more."""
    wanted = list(set(command_ids))
    if wanted:
        await tx.session.execute(
            awaited_commands.delete().where(any_of(awaited_commands.c.id, wanted))
        )


# The commands longest without an outcome, claimed (another replica takes others).
_OVERDUE = sa.text(
    """
    SELECT * FROM awaited_commands
    WHERE sent_at < now() - make_interval(secs => :after)
    ORDER BY sent_at
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
    """
)


async def send_overdue(database: Database, settings: Settings, limit: int = 200) -> int:
    """Send again each command whose outcome has not come ``redrive_after_s`` after it was
    last sent; how many were claimed (sent again, found done, or given up)."""
    async with database.transaction() as tx:
        rows = (
            await tx.session.execute(_OVERDUE, {"after": settings.redrive_after_s, "limit": limit})
        ).all()
        if not rows:
            return 0
        shown = await _effects_shown(tx, rows)
        waiting = [r for r in rows if r.id not in shown]
        again = [r for r in waiting if r.attempts < settings.redrive_max_attempts]
        given_up = [r for r in waiting if r.attempts >= settings.redrive_max_attempts]
        await outcomes_came(tx, shown | {r.id for r in given_up})
        if again:
            await tx.session.execute(
                awaited_commands.update()
                .where(any_of(awaited_commands.c.id, [r.id for r in again]))
                .values(attempts=awaited_commands.c.attempts + 1, sent_at=sa.func.now())
            )
            await tx.publish_many([(r.topic, _repeat(r.envelope, r.attempts + 1)) for r in again])
    service = settings.service_name
    for row in again:
        metrics.redriven.labels(service, row.envelope["type"]).inc()
    if again:
        log.warning("commands sent again: no outcome came", count=len(again))
    if given_up:
        log.error(
            "commands given up: no outcome came",
            count=len(given_up),
            attempts=settings.redrive_max_attempts,
            command_ids=[str(r.id) for r in given_up],
        )
    return len(rows)


def _repeat(first: dict[str, Any], attempt: int) -> Envelope[Any]:
    """The command as first sent (its correlation and causation too); an email's under an
    id of its own."""
    if first["type"] == SEND_EMAIL:
        first = {**first, "id": str(message_id(uuid.UUID(first["id"]), attempt))}
    return Envelope[Any].model_validate(first)


async def _effects_shown(tx: Transaction, rows: list[Any]) -> set[uuid.UUID]:
    """The case commands among ``rows`` whose case already shows what they asked for."""
    cases = {
        r.id: uuid.UUID(r.envelope["data"]["case_id"])
        for r in rows
        if r.envelope["type"].startswith("case.") and "case_id" in r.envelope["data"]
    }
    if not cases:
        return set()
    states = await read_models.case_states(tx.session, cases.values())
    return {
        r.id
        for r in rows
        if r.id in cases
        and effect_shows(r.envelope["type"], r.envelope["data"], states.get(cases[r.id]))
    }


async def redrive_commands(database: Database, settings: Settings) -> None:
    """The worker: look for overdue commands every ``redrive_interval_s``."""
    await redrive_forever(
        functools.partial(send_overdue, database, settings), settings.redrive_interval_s
    )
