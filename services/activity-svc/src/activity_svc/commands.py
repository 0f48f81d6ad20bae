"""``activity.commands``: internal apps and automation-svc schedule, complete and cancel
activities with the same functions and rules as the HTTP API. The command's envelope id
makes it idempotent (the inbox; a schedule also records it as the activity's source). A
command the rules refuse can never succeed: it is dead-lettered at once with the reason."""

from __future__ import annotations

from typing import Any

from activity_svc import activity_actions
from activity_svc.schemas import ActivityIn, CompleteIn
from casestream.commands import Caller, invalid, rejecting_refusals
from casestream.contracts.activity import (
    ACTIVITY_COMMAND_TYPES,
    COMPLETE_ACTIVITY,
    SCHEDULE_ACTIVITY,
    ActivityCommand,
    ActivityCommandEnvelope,
)
from casestream.persistence.database import Transaction
from casestream.settings import ServiceSettings


def command_handler(settings: ServiceSettings):
    @rejecting_refusals
    async def handle_activity_command(envelope: ActivityCommandEnvelope, tx: Transaction) -> None:
        """Run the command; a refusal or an invalid body dead-letters it with the reason."""
        await _run(tx, settings, envelope)

    return handle_activity_command


async def _run(tx: Transaction, settings: ServiceSettings, envelope: Any) -> None:
    command: ActivityCommand = envelope.data
    caller = Caller(actor=command.actor)
    if envelope.type == SCHEDULE_ACTIVITY:
        body = ActivityIn.model_validate(command.activity or {})
        await activity_actions.schedule(
            tx, settings, caller, body, source=f"command:{envelope.id}", where=("data", "activity")
        )
        return
    if envelope.type not in ACTIVITY_COMMAND_TYPES:
        raise invalid(
            ("type",),
            f"unknown command {envelope.type!r}; one of {', '.join(ACTIVITY_COMMAND_TYPES)}",
        )
    if command.activity_id is None:
        raise invalid(("data", "activity_id"), f"{envelope.type} needs an activity_id")
    if envelope.type == COMPLETE_ACTIVITY:
        body = CompleteIn.model_validate(
            {"outcome": command.outcome, "details": command.details, "next": command.next}
        )
        await activity_actions.complete(
            tx, settings, caller, command.activity_id, body, command.expected_version
        )
    else:
        await activity_actions.cancel(
            tx, settings, caller, command.activity_id, command.expected_version
        )
