"""``activity.commands``: internal apps and automation-svc schedule, complete and cancel
activities with the same functions and rules as the HTTP API. The command's envelope id
makes it idempotent (the inbox; a schedule also records it as the activity's source). A
command the rules refuse can never succeed: it is dead-lettered at once with the reason."""

from __future__ import annotations

from activity_svc import activity_actions
from casestream.commands import Caller
from casestream.contracts.activity import (
    ActivityCommandEnvelope,
    CancelActivity,
    CompleteActivity,
    ScheduleActivity,
)
from casestream.persistence.database import Transaction
from casestream.settings import ServiceSettings


async def run_command(
    tx: Transaction, settings: ServiceSettings, envelope: ActivityCommandEnvelope
) -> None:
    """``envelope.data`` is already the model its type names: a missing field or an unknown
    type never gets here (it is dead-lettered as invalid)."""
    command = envelope.data
    caller = Caller(actor=command.actor)
    if isinstance(command, ScheduleActivity):
        await activity_actions.schedule(
            tx,
            settings,
            caller,
            command.activity,
            source=f"command:{envelope.id}",
            where=("data", "activity"),
        )
    elif isinstance(command, CompleteActivity):
        # A CompleteActivity is an ActivityCompletion (the body of POST .../complete).
        await activity_actions.complete(
            tx, settings, caller, command.activity_id, command, command.expected_version
        )
    else:
        assert isinstance(command, CancelActivity)
        await activity_actions.cancel(
            tx, settings, caller, command.activity_id, command.expected_version
        )
