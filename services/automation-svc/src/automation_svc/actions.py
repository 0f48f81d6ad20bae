"""Perform one action of a firing, and log it with its state.

Only ``send_email`` is carried out yet (a ``notify.send_email`` command through the
outbox). Delayed actions wait as ``pending`` rows with their due time: the timer worker
that runs them is a later issue. The other action types are logged as ``failed``.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter

from automation_svc.tables import firing_actions
from casestream import topics
from casestream.contracts.notify import SEND_EMAIL, SendEmail
from casestream.envelope import new_envelope
from casestream.persistence.database import Transaction
from casestream.settings import ServiceSettings

NOT_SUPPORTED = "not supported yet"
_duration = TypeAdapter(timedelta)


def action_id_for(firing_id: uuid.UUID, index: int) -> uuid.UUID:
    return uuid.uuid5(firing_id, str(index))


async def perform_action(
    tx: Transaction,
    settings: ServiceSettings,
    *,
    firing_id: uuid.UUID,
    index: int,
    action: dict[str, Any],
    case_id: uuid.UUID | None,
    occurred_at: datetime,
    rule_id: uuid.UUID,
) -> None:
    action_id = action_id_for(firing_id, index)
    params = {k: v for k, v in action.items() if k != "type"}
    row: dict[str, Any] = dict(
        id=action_id, firing_id=firing_id, index=index, type=action["type"], params=params
    )
    if action["type"] != "send_email":
        row.update(state="failed", error=NOT_SUPPORTED)
    elif case_id is None:
        row.update(state="failed", error="the event is not about a case")
    elif params.get("delay"):
        # Due relative to the event, so a replay computes the same time.
        row.update(state="pending", due_at=occurred_at + _duration.validate_python(params["delay"]))
    else:
        await tx.publish(
            settings.topic(topics.NOTIFY_COMMANDS),
            send_email_command(action_id, case_id, params, requested_by=f"rule:{rule_id}"),
        )
        row.update(state="done", command_id=action_id)
    await tx.session.execute(firing_actions.insert().values(**row))


def send_email_command(
    action_id: uuid.UUID, case_id: uuid.UUID, params: dict[str, Any], *, requested_by: str
) -> Any:
    """The command's id and its notification id are the action's id: deterministic, so
    notify-svc sends one email however often this is replayed."""
    command = SendEmail(
        notification_id=action_id,
        case_id=case_id,
        to=params.get("to") or ["clients"],
        template=params.get("template"),
        subject=params.get("subject"),
        body_text=params.get("body_text"),
        requested_by=requested_by,
    )
    return new_envelope(
        type=SEND_EMAIL,
        source="automation-svc",
        subject=topics.case_key(case_id),
        data=command,
        id=action_id,
    )
