"""``activity.commands``: internal apps and automation-svc schedule, complete and cancel
activities with the same functions and rules as the HTTP API. The command's envelope id
makes it idempotent (the inbox; a schedule also records it as the activity's source). A
command the rules refuse can never succeed: it is dead-lettered at once with the reason.

Not in the shared contracts yet: ``ActivityCommand`` lives here until it moves there."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ValidationError

from activity_svc import activity_actions
from activity_svc.activity_actions import Caller
from activity_svc.refusals import Refused, invalid
from activity_svc.schemas import ActivityIn, CompleteIn
from casestream.envelope import Envelope
from casestream.messaging.consumption import Rejected
from casestream.persistence.database import Transaction
from casestream.settings import ServiceSettings

SCHEDULE_ACTIVITY = "activity.schedule"
COMPLETE_ACTIVITY = "activity.complete"
CANCEL_ACTIVITY = "activity.cancel"
ACTIVITY_COMMAND_TYPES = (SCHEDULE_ACTIVITY, COMPLETE_ACTIVITY, CANCEL_ACTIVITY)


class ActivityCommand(BaseModel):
    """``actor`` names who asks (the activity's creator). ``activity`` (schedule: the body of
    POST /activities); ``activity_id`` (complete, cancel); ``outcome``, ``details`` and
    ``next`` (complete: the body of POST /activities/{id}/complete); ``expected_version``
    (refuse if the activity changed). Keyed by the case id."""

    actor: str
    activity: dict[str, Any] | None = None
    activity_id: uuid.UUID | None = None
    outcome: str | None = None
    details: str | None = None
    next: dict[str, Any] | None = None
    expected_version: int | None = None


ActivityCommandEnvelope = Envelope[ActivityCommand]


def command_handler(settings: ServiceSettings):
    async def handle_activity_command(envelope: ActivityCommandEnvelope, tx: Transaction) -> None:
        """Run the command; a refusal or an invalid body dead-letters it with the reason."""
        try:
            await _run(tx, settings, envelope)
        except Refused as refused:
            raise Rejected(f"{envelope.type} refused: {refused.reason()}") from None
        except ValidationError as error:
            raise Rejected(f"{envelope.type}: invalid command: {error}") from None

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
