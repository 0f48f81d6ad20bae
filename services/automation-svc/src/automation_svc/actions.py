"""What an action does, as pure functions: when it is due, and the command it sends.

Every command's id is the action's id (one per occurrence), so the receiving service's inbox
turns a replay into nothing: each action has its effect once. (An email sent again for want
of an outcome travels under an id of its own, its notification id the same: ``redrive``.)
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter

from automation_svc.matching import MISSING, resolve
from automation_svc.schemas import (
    Action,
    AddRoleAction,
    AddTagAction,
    AssignAction,
    ChangeStatusAction,
    ScheduleActivityAction,
    SendEmailAction,
)
from casestream import topics
from casestream.contracts.activity import NewActivity, ScheduleActivity
from casestream.contracts.case import (
    ADD_CASE_ROLE,
    ADD_CASE_TAGS,
    ASSIGN_CASE,
    CHANGE_CASE_STATUS,
    AddCaseRole,
    AddCaseTags,
    AssignCase,
    CaseCommandData,
    ChangeCaseStatus,
)
from casestream.contracts.commands import Command
from casestream.contracts.notify import SendEmail
from casestream.envelope import Envelope, new_envelope

_action = TypeAdapter(Action)
_datetime = TypeAdapter(datetime)


class ActionFailed(Exception):
    """The action cannot be carried out (logged ``failed`` with this reason)."""


def action_id_for(firing_id: uuid.UUID, index: int, occurrence: int = 0) -> uuid.UUID:
    first = uuid.uuid5(firing_id, str(index))
    return first if occurrence == 0 else uuid.uuid5(first, str(occurrence))


def parse(action_type: str, params: dict[str, Any]) -> Action:
    """An action as stored in a firing (its parameters apart from its type)."""
    return _action.validate_python({"type": action_type, **params})


def stored_params(action: Action) -> dict[str, Any]:
    return action.model_dump(mode="json", exclude_none=True, exclude={"type"})


def due_at(action: Action, facts: dict[str, Any], occurred_at: datetime) -> datetime | None:
    """When a timed action is due (None: at once). ``delay`` counts from the event, so a
    replayed event computes the same time; ``at`` reads a date from the facts."""
    if action.delay is not None:
        return occurred_at + action.delay
    if action.at is not None:
        return anchored_due(action, facts)
    return None


def anchored_due(action: Action, facts: dict[str, Any]) -> datetime:
    assert action.at is not None
    value = resolve(action.at.field, facts)
    if value is MISSING or value is None:
        raise ActionFailed(f"{action.at.field} has no date to time the action from")
    try:
        anchor = _datetime.validate_python(value)
    except ValueError as error:
        raise ActionFailed(f"{action.at.field} is not a date: {value!r}") from error
    if anchor.tzinfo is None:  # a date (a quotation's validity, an invoice's due date): UTC
        anchor = anchor.replace(tzinfo=UTC)
    return anchor + action.at.offset


def command_for(
    action: Action,
    *,
    action_id: uuid.UUID,
    case_id: uuid.UUID,
    facts: dict[str, Any],
    now: datetime,
    rule_id: uuid.UUID,
) -> tuple[str, Envelope[Any]]:
    """The (topic, envelope) this action sends: a typed command of the receiver's contract,
    whose ``command_type`` is the envelope's type. Raises ActionFailed, or ValueError (a
    pydantic ValidationError) when the facts do not make a valid command."""
    actor = f"rule:{rule_id}"
    command: Command
    if isinstance(action, SendEmailAction):
        topic, command = topics.NOTIFY_COMMANDS, _email(action, action_id, case_id, facts, actor)
    elif isinstance(action, ScheduleActivityAction):
        topic, command = topics.ACTIVITY_COMMANDS, _activity(action, case_id, now, actor)
    else:
        topic, command = topics.CASE_COMMANDS, _case_command(action, case_id, facts, actor)
    envelope = new_envelope(
        type=command.command_type,
        source="automation-svc",
        subject=topics.case_key(case_id),
        data=command,
        id=action_id,
    )
    return topic, envelope


def _email(
    action: SendEmailAction,
    action_id: uuid.UUID,
    case_id: uuid.UUID,
    facts: dict[str, Any],
    actor: str,
) -> SendEmail:
    return SendEmail(
        notification_id=action_id,  # notify-svc sends one email per notification id
        case_id=case_id,
        to=action.to,
        template=action.template,
        subject=action.subject,
        body_text=action.body_text,
        requested_by=actor,
        activity=facts.get("activity") or None,
        quotation=facts.get("quotation") or None,
        invoice=facts.get("invoice") or None,
    )


def _activity(
    action: ScheduleActivityAction, case_id: uuid.UUID, now: datetime, actor: str
) -> ScheduleActivity:
    activity = NewActivity(
        case_id=case_id,
        type=action.activity_type,
        subject=action.subject,
        details=action.details,
        due_at=now + action.due_in,
        assignee_ids=action.assignee_ids,
    )
    return ScheduleActivity(actor=actor, activity=activity)


def _case_command(
    action: Action, case_id: uuid.UUID, facts: dict[str, Any], actor: str
) -> CaseCommandData:
    if isinstance(action, ChangeStatusAction):
        return ChangeCaseStatus(actor=actor, case_id=case_id, status=action.status)
    if isinstance(action, AssignAction):
        return AssignCase(actor=actor, case_id=case_id, user=action.user)
    if isinstance(action, AddTagAction):
        return AddCaseTags(actor=actor, case_id=case_id, tags=action.tags)
    assert isinstance(action, AddRoleAction)
    return AddCaseRole(
        actor=actor, case_id=case_id, role=action.role, contact_id=_role_contact(action, facts)
    )


def _role_contact(action: AddRoleAction, facts: dict[str, Any]) -> uuid.UUID:
    if action.contact != "client":
        return uuid.UUID(action.contact)
    clients = (facts.get("case") or {}).get("clients") or []
    if not clients:
        raise ActionFailed("add_role to the client: the case has no client")
    return uuid.UUID(str(clients[0]["id"]))


def next_occurrence(action: Action, due: datetime, occurrence: int) -> datetime | None:
    """When the next repeat is due, or None when the action does not repeat (again)."""
    if action.repeat is None or occurrence + 1 >= action.repeat.max_times:
        return None
    return due + action.repeat.every


def effect_shows(command_type: str, data: dict[str, Any], case: dict[str, Any] | None) -> bool:
    """Whether ``case`` (its state as automation-svc last heard it) already has what the case
    command asked for. case-svc says nothing of a command that changes nothing (tags the case
    has) and refuses one that asks for what is already so (its status, its assignee), so
    for these the case itself is the outcome."""
    if not case:
        return False
    if command_type == ADD_CASE_TAGS:
        return set(data["tags"]) <= set(case.get("tags") or ())
    if command_type == CHANGE_CASE_STATUS:
        return bool(case.get("status") == data["status"])
    if command_type == ASSIGN_CASE:
        return bool(case.get("assignee") == data.get("user"))
    if command_type == ADD_CASE_ROLE:
        return any(
            role.get("role") == data["role"]
            and role.get("contact_id") == str(data["contact_id"])
            and not role.get("end_date")
            for role in case.get("roles") or ()
        )
    return False
