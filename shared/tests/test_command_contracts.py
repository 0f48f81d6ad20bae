"""Command contracts without a database or a broker: each command type on a command topic
validates into its own model, an unknown type or a bad field is a validation error (the
consumer dead-letters it as an invalid message), and messages in the old shapes, already on
the topics, still parse."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from casestream.contracts.activity import (
    ACTIVITY_COMMAND_MODELS,
    ACTIVITY_COMMAND_TYPES,
    CANCEL_ACTIVITY,
    COMPLETE_ACTIVITY,
    SCHEDULE_ACTIVITY,
    ActivityCommandEnvelope,
    ActivityEnvelope,
    ActivityState,
    CancelActivity,
    CompleteActivity,
    NewActivity,
    NextActivity,
    ScheduleActivity,
)
from casestream.contracts.case import (
    ADD_CASE_ROLE,
    ADD_CASE_TAGS,
    ASSIGN_CASE,
    CASE_COMMAND_MODELS,
    CASE_COMMAND_TYPES,
    CHANGE_CASE_STATUS,
    CLOSE_CASE,
    OPEN_CASE,
    AddCaseRole,
    AddCaseTags,
    AssignCase,
    CaseCommandEnvelope,
    ChangeCaseStatus,
    CloseCase,
    ContactInput,
    NewCase,
    OpenCase,
)
from casestream.contracts.commands import Command, CommandEnvelope, registry
from casestream.contracts.notify import (
    EMAIL_SENT,
    NOTIFY_COMMAND_MODELS,
    SEND_EMAIL,
    EmailEnvelope,
    SendEmail,
    SendEmailEnvelope,
)
from casestream.envelope import new_envelope

CASE_ID = uuid.uuid4()
ACTIVITY_ID = uuid.uuid4()
CONTACT_ID = uuid.uuid4()
WHEN = "2025-05-02T09:00:00Z"


def wire(kind: str, data: Any) -> bytes:
    """A message as it sits on a topic: the envelope's JSON."""
    envelope = new_envelope(type=kind, source="test", subject=str(CASE_ID), data=data)
    return envelope.model_dump_json().encode()


def activity_state(**fields: Any) -> dict[str, Any]:
    """An activity's state as an older activity-svc said it (no duration, priority, ...)."""
    return {
        "id": str(ACTIVITY_ID),
        "case_id": str(CASE_ID),
        "type": "initial_call",
        "subject": "Initial call",
        "details": None,
        "status": "completed",
        "due_at": None,
        "occurred_at": WHEN,
        "assignee_ids": ["alice"],
        "with_contact_ids": [],
        "created_at": WHEN,
        "updated_at": WHEN,
        **fields,
    }


# One valid command of each type: (envelope model, type, data, the model it must become).
EXAMPLES: list[tuple[type[CommandEnvelope[Any]], str, dict[str, Any], type[BaseModel]]] = [
    (
        CaseCommandEnvelope,
        OPEN_CASE,
        {
            "actor": "crm",
            "case": {
                "case_type": "general_enquiry",
                "subject": "Noisy neighbours",
                "client": {"first_name": "Ada", "email": "ada@example.org"},
            },
        },
        OpenCase,
    ),
    (
        CaseCommandEnvelope,
        CHANGE_CASE_STATUS,
        {"actor": "crm", "case_id": str(CASE_ID), "status": "in_progress"},
        ChangeCaseStatus,
    ),
    (CaseCommandEnvelope, ASSIGN_CASE, {"actor": "crm", "case_id": str(CASE_ID)}, AssignCase),
    (
        CaseCommandEnvelope,
        ADD_CASE_ROLE,
        {"actor": "crm", "case_id": str(CASE_ID), "role": "advocate", "contact_id": CONTACT_ID},
        AddCaseRole,
    ),
    (
        CaseCommandEnvelope,
        CLOSE_CASE,
        {"actor": "crm", "case_id": str(CASE_ID), "outcome": "done"},
        CloseCase,
    ),
    (
        CaseCommandEnvelope,
        ADD_CASE_TAGS,
        {"actor": "crm", "case_id": str(CASE_ID), "tags": ["vip"]},
        AddCaseTags,
    ),
    (
        ActivityCommandEnvelope,
        SCHEDULE_ACTIVITY,
        {"actor": "rule:x", "activity": {"case_id": str(CASE_ID), "type": "follow_up_call"}},
        ScheduleActivity,
    ),
    (
        ActivityCommandEnvelope,
        COMPLETE_ACTIVITY,
        {"actor": "rule:x", "activity_id": str(ACTIVITY_ID), "next": {"type": "email"}},
        CompleteActivity,
    ),
    (
        ActivityCommandEnvelope,
        CANCEL_ACTIVITY,
        {"actor": "rule:x", "activity_id": str(ACTIVITY_ID), "expected_version": 3},
        CancelActivity,
    ),
    (
        SendEmailEnvelope,
        SEND_EMAIL,
        {"notification_id": str(uuid.uuid4()), "case_id": str(CASE_ID), "template": "ack"},
        SendEmail,
    ),
]


def test_every_command_type_has_one_model_and_an_example():
    assert tuple(CASE_COMMAND_MODELS) == CASE_COMMAND_TYPES
    assert tuple(ACTIVITY_COMMAND_MODELS) == ACTIVITY_COMMAND_TYPES
    assert tuple(NOTIFY_COMMAND_MODELS) == (SEND_EMAIL,)
    for models in (CASE_COMMAND_MODELS, ACTIVITY_COMMAND_MODELS, NOTIFY_COMMAND_MODELS):
        assert all(model.command_type == kind for kind, model in models.items())
    assert {kind for _, kind, _, _ in EXAMPLES} == {
        *CASE_COMMAND_TYPES,
        *ACTIVITY_COMMAND_TYPES,
        SEND_EMAIL,
    }


@pytest.mark.parametrize(("contract", "kind", "data", "model"), EXAMPLES, ids=lambda v: str(v))
def test_each_command_type_picks_its_model(contract, kind, data, model):
    envelope = contract.model_validate_json(wire(kind, data))
    assert type(envelope.data) is model
    assert envelope.type == kind == model.command_type


def test_the_typed_payloads_are_the_receivers_bodies():
    opened = CaseCommandEnvelope.model_validate_json(wire(*EXAMPLES[0][1:3])).data
    assert isinstance(opened, OpenCase)
    assert isinstance(opened.case, NewCase) and isinstance(opened.case.client, ContactInput)
    assert opened.case.client.email == "ada@example.org"
    completed = ActivityCommandEnvelope.model_validate_json(wire(*EXAMPLES[7][1:3])).data
    assert isinstance(completed, CompleteActivity) and isinstance(completed.next, NextActivity)
    assert completed.activity_id == ACTIVITY_ID
    scheduled = ActivityCommandEnvelope.model_validate_json(wire(*EXAMPLES[6][1:3])).data
    assert isinstance(scheduled, ScheduleActivity)
    assert isinstance(scheduled.activity, NewActivity)
    assert scheduled.activity.priority == "normal"


def test_a_typed_command_round_trips_through_the_wire():
    command = ScheduleActivity(
        actor="rule:x",
        activity=NewActivity(
            case_id=CASE_ID, type="call", due_at=datetime(2025, 5, 2, 9, tzinfo=UTC)
        ),
    )
    again = ActivityCommandEnvelope.model_validate_json(wire(command.command_type, command))
    assert again.data == command


@pytest.mark.parametrize(
    "contract", [CaseCommandEnvelope, ActivityCommandEnvelope, SendEmailEnvelope]
)
def test_an_unknown_type_does_not_validate(contract):
    with pytest.raises(ValidationError) as raised:
        contract.model_validate_json(wire("case.explode", {"actor": "x"}))
    [error] = raised.value.errors()
    assert error["loc"] == ("data",) and error["type"] == "unknown_command"
    assert "unknown command 'case.explode'" in str(raised.value)


def test_a_command_under_another_topics_type_does_not_validate():
    with pytest.raises(ValidationError, match=r"unknown command 'case\.add_tags'"):
        ActivityCommandEnvelope.model_validate_json(wire(*EXAMPLES[5][1:3]))


@pytest.mark.parametrize(
    ("contract", "kind", "data", "loc", "error_type"),
    [
        (CaseCommandEnvelope, ADD_CASE_TAGS, {"actor": "x", "case_id": "nope", "tags": ["a"]},
         ("data", "case_id"), "uuid_parsing"),
        (CaseCommandEnvelope, ADD_CASE_TAGS, {"actor": "x", "case_id": str(CASE_ID), "tags": "a"},
         ("data", "tags"), "list_type"),
        (CaseCommandEnvelope, ADD_CASE_TAGS, {"actor": "x", "case_id": str(CASE_ID), "tags": []},
         ("data", "tags"), "too_short"),
        (CaseCommandEnvelope, ADD_CASE_TAGS, {"actor": "x", "tags": ["a"]},
         ("data", "case_id"), "missing"),
        (CaseCommandEnvelope, CHANGE_CASE_STATUS, {"actor": "x", "case_id": str(CASE_ID)},
         ("data", "status"), "missing"),
        (CaseCommandEnvelope, ASSIGN_CASE, {"actor": 7, "case_id": str(CASE_ID)},
         ("data", "actor"), "string_type"),
        (CaseCommandEnvelope, OPEN_CASE, {"actor": "x", "case": {"case_type": "t", "subject": ""}},
         ("data", "case", "subject"), "string_too_short"),
        (CaseCommandEnvelope, OPEN_CASE,
         {"actor": "x", "case": {"case_type": "t", "subject": "s", "client": {"email": "no"}}},
         ("data", "case", "client", "email"), "value_error"),
        (CaseCommandEnvelope, OPEN_CASE,
         {"actor": "x", "case": {"case_type": "t", "subject": "s", "colour": "red"}},
         ("data", "case", "colour"), "extra_forbidden"),  # the body of POST /cases forbids it
        (ActivityCommandEnvelope, CANCEL_ACTIVITY, {"actor": "x"},
         ("data", "activity_id"), "missing"),
        (ActivityCommandEnvelope, SCHEDULE_ACTIVITY,
         {"actor": "x", "activity": {"type": "call", "due_at": "2025-05-02T09:00:00"}},
         ("data", "activity", "due_at"), "timezone_aware"),
        (ActivityCommandEnvelope, COMPLETE_ACTIVITY,
         {"actor": "x", "activity_id": str(ACTIVITY_ID), "next": {"subject": "no type"}},
         ("data", "next", "type"), "missing"),
        (SendEmailEnvelope, SEND_EMAIL, {"case_id": str(CASE_ID)},
         ("data", "notification_id"), "missing"),
        (SendEmailEnvelope, SEND_EMAIL,
         {"notification_id": str(uuid.uuid4()), "case_id": str(CASE_ID), "activity": {"id": 1}},
         ("data", "activity", "id"), "uuid_type"),  # not an ActivityState
    ],
)  # fmt: skip
def test_a_bad_field_does_not_validate_and_names_it(contract, kind, data, loc, error_type):
    with pytest.raises(ValidationError) as raised:
        contract.model_validate_json(wire(kind, data))
    found = {(error["loc"], error["type"]) for error in raised.value.errors()}
    assert (loc, error_type) in found


# The old one-model-for-all shapes: every parameter of every command present, most null
# (CaseCommand / ActivityCommand as automation-svc dumped them), and untyped payloads.
OLD_CASE_COMMAND = {
    "actor": "rule:1",
    "case_id": str(CASE_ID),
    "case": None,
    "status": None,
    "user": None,
    "role": None,
    "contact_id": None,
    "outcome": None,
    "lost_reason": None,
    "tags": ["urgent"],
    "expected_version": None,
}
OLD_ACTIVITY_COMMAND = {
    "actor": "rule:1",
    "activity": None,
    "activity_id": str(ACTIVITY_ID),
    "outcome": "happy",
    "details": None,
    "next": {"type": "email", "subject": "Send the brochure"},
    "expected_version": None,
}


def test_old_style_commands_still_parse():
    tags = CaseCommandEnvelope.model_validate_json(wire(ADD_CASE_TAGS, OLD_CASE_COMMAND)).data
    assert tags == AddCaseTags(actor="rule:1", case_id=CASE_ID, tags=["urgent"])
    assign = {**OLD_CASE_COMMAND, "tags": None, "user": "casey"}
    assigned = CaseCommandEnvelope.model_validate_json(wire(ASSIGN_CASE, assign)).data
    assert assigned == AssignCase(actor="rule:1", case_id=CASE_ID, user="casey")
    opening = {
        **OLD_CASE_COMMAND,
        "case_id": None,
        "tags": None,
        "case": {"case_type": "general_enquiry", "subject": "by command"},
    }
    opened = CaseCommandEnvelope.model_validate_json(wire(OPEN_CASE, opening)).data
    assert isinstance(opened, OpenCase) and opened.case.subject == "by command"

    done = ActivityCommandEnvelope.model_validate_json(
        wire(COMPLETE_ACTIVITY, OLD_ACTIVITY_COMMAND)
    ).data
    assert isinstance(done, CompleteActivity)
    assert (done.outcome, done.next) == (
        "happy",
        NextActivity(type="email", subject="Send the brochure"),
    )
    schedule = {
        **OLD_ACTIVITY_COMMAND,
        "activity_id": None,
        "next": None,
        "outcome": None,
        # as automation-svc built it by hand: None values left out, the case id a string
        "activity": {"case_id": str(CASE_ID), "type": "call", "due_at": WHEN, "assignee_ids": []},
    }
    scheduled = ActivityCommandEnvelope.model_validate_json(wire(SCHEDULE_ACTIVITY, schedule))
    assert isinstance(scheduled.data, ScheduleActivity)
    assert scheduled.data.activity.case_id == CASE_ID

    email = {
        "notification_id": str(uuid.uuid4()),
        "case_id": str(CASE_ID),
        "to": ["clients"],
        "template": "follow-up",
        "subject": None,
        "body_text": None,
        "requested_by": "rule:1",
        "activity": activity_state(),
    }
    sent = SendEmailEnvelope.model_validate_json(wire(SEND_EMAIL, email)).data
    # The activity is checked against ActivityState but kept as the JSON it came as (what
    # notify-svc stores and renders {{ activity.* }} from).
    assert sent.activity == activity_state()


def test_commands_ignore_fields_they_do_not_know():
    newer = {"actor": "x", "case_id": str(CASE_ID), "status": "won", "reason": "later field"}
    parsed = CaseCommandEnvelope.model_validate_json(wire(CHANGE_CASE_STATUS, newer)).data
    assert parsed == ChangeCaseStatus(actor="x", case_id=CASE_ID, status="won")


def test_old_activity_and_email_events_read_as_the_shared_states_defaults():
    old = ActivityEnvelope.model_validate_json(
        wire("activity.completed", {"activity": activity_state(), "changes": {}})
    )
    state = old.data.activity
    assert (state.priority, state.attachments, state.version, state.outcome) == (
        "normal",
        [],
        1,
        None,
    )
    newer = activity_state(
        outcome="pleased",
        duration_minutes=15,
        priority="urgent",
        attachments=[{"name": "minutes.pdf", "url": "https://files.example/1"}],
        created_by="alice",
        source="command:1",
        version=4,
    )
    said = ActivityEnvelope.model_validate_json(
        wire("activity.completed", {"activity": newer, "changes": {}})
    )
    assert said.data.activity.outcome == "pleased"
    assert said.data.activity.attachments[0].name == "minutes.pdf"
    assert ActivityState.model_validate(newer).model_dump(mode="json")["version"] == 4

    email = {
        "id": str(uuid.uuid4()),
        "notification_id": str(uuid.uuid4()),
        "case_id": str(CASE_ID),
        "to": ["ada@example.org"],
        "subject": "Hello",
        "status": "sent",
        "message_id": "<1@example>",
    }
    old_email = EmailEnvelope.model_validate_json(wire(EMAIL_SENT, {"email": email})).data.email
    assert (old_email.template, old_email.recipients, old_email.body_html) == (None, [], None)
    with_recipients = {
        **email,
        "template": "ack",
        "recipients": [{"address": "ada@example.org", "contact_id": str(CONTACT_ID)}],
    }
    newer_email = EmailEnvelope.model_validate_json(
        wire(EMAIL_SENT, {"email": with_recipients})
    ).data.email
    assert newer_email.template == "ack"
    assert newer_email.recipients[0].contact_id == str(CONTACT_ID)


def test_a_model_of_another_type_in_an_envelope_does_not_validate():
    with pytest.raises(ValidationError):
        CaseCommandEnvelope(
            type=CLOSE_CASE,
            source="test",
            subject=str(CASE_ID),
            correlation_id="c",
            data=ChangeCaseStatus(actor="x", case_id=CASE_ID, status="won"),
        )


def test_a_registry_refuses_two_models_for_one_type():
    class Again(Command):
        command_type = ADD_CASE_TAGS

    with pytest.raises(ValueError, match="share a command type"):
        registry(AddCaseTags, Again)


def test_the_json_schema_documents_the_model_of_each_type():
    """What the AsyncAPI documents show for each command topic."""
    schema = json.loads(json.dumps(CaseCommandEnvelope.model_json_schema()))
    assert schema["properties"]["type"]["enum"] == list(CASE_COMMAND_TYPES)
    by_type = {
        case["if"]["properties"]["type"]["const"]: case["then"]["properties"]["data"]["$ref"]
        for case in schema["allOf"]
    }
    assert by_type[OPEN_CASE] == "#/$defs/OpenCase"
    assert by_type[ADD_CASE_TAGS] == "#/$defs/AddCaseTags"
    assert "NewCase" in schema["$defs"]
    activity = ActivityCommandEnvelope.model_json_schema()
    assert {"ScheduleActivity", "CompleteActivity", "CancelActivity", "NextActivity"} <= set(
        activity["$defs"]
    )
