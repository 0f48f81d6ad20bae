"""A web form submission is logged on its case as one completed "Web form submission"
activity: when it opened the case and when it was attached to an open case instead."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime

from casestream import topics
from casestream.contracts.case import (
    CASE_OPENED,
    CASE_SUBMISSION_ATTACHED,
    CaseOrigin,
    CaseTypeDefinition,
)
from casestream.envelope import Envelope
from casestream.testing import factories
from casestream.testing.plugin import eventually
from casestream.testing.services import STAFF_HEADERS

CREATED = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)


def case_type_published(name: str) -> Envelope:
    definition = CaseTypeDefinition.model_validate(
        {
            "statuses": ["open"],
            "activity_types": ["open_case", "follow_up_call"],
            "activity_sets": [
                {
                    "name": "standard_timeline",
                    "label": "Standard timeline",
                    "activities": [
                        {"type": "open_case", "status": "completed", "subject": "Case opened"},
                        {"type": "follow_up_call", "subject": "Follow up call", "offset_days": 7},
                    ],
                }
            ],
        }
    )
    return factories.case_type_published(
        factories.case_type_version(name, definition, title="Enquiry")
    )


def case_event(
    kind: str,
    case_id: uuid.UUID,
    *,
    case_type: str = "enquiry",
    clients: list[uuid.UUID] | None = None,
    version: int = 1,
    origin: CaseOrigin | None = None,
) -> Envelope:
    case = factories.case_state(
        at=CREATED,
        id=case_id,
        case_type=case_type,
        clients=[factories.contact_state(id=c) for c in clients or [uuid.uuid4()]],
        start_date=date(2025, 3, 3),
        version=version,
    )
    return factories.case_event(case, kind, actor="web-form", origin=origin)


def from_form(form: str = "contact", details: str | None = "I hear drums at 3am") -> CaseOrigin:
    return CaseOrigin(submission_id=uuid.uuid4(), form=form, activity_details=details)


async def activities_of(service, case_id: object) -> list[dict]:
    answer = await service.client.get(f"/cases/{case_id}/activities", headers=STAFF_HEADERS)
    assert answer.status_code == 200
    return answer.json()["items"]


async def web_forms_of(service, case_id: object, count: int = 1) -> list[dict]:
    """The case's web_form activities, once there are ``count``; then a moment more, so a
    surplus shows."""

    async def found():
        logged = [a for a in await activities_of(service, case_id) if a["type"] == "web_form"]
        return logged if len(logged) >= count else None

    await eventually(found, timeout_s=20)
    await asyncio.sleep(0.5)
    return [a for a in await activities_of(service, case_id) if a["type"] == "web_form"]


async def test_a_case_opened_by_a_web_form_logs_the_submission_once(service):
    case_type = f"enquiry_{uuid.uuid4().hex[:6]}"
    client, other_client = uuid.uuid4(), uuid.uuid4()
    origin = from_form()
    opened = case_event(
        CASE_OPENED,
        uuid.uuid4(),
        case_type=case_type,
        clients=[client, other_client],
        origin=origin,
    )
    # Redelivered, and announced again under a new message id (a retried submission).
    again = opened.model_copy(update={"id": uuid.uuid4()})
    await service.deliver(topics.CASETYPE_EVENTS, case_type_published(case_type))
    for envelope in (opened, opened, again):
        await service.deliver(topics.CASE_EVENTS, envelope)

    [logged] = await web_forms_of(service, opened.subject)
    assert (logged["type_label"], logged["status"]) == ("Web form submission", "completed")
    assert logged["subject"] == "Web form: contact"
    assert logged["details"] == "I hear drums at 3am"
    assert logged["with_contact_ids"] == [str(client)]
    assert datetime.fromisoformat(logged["occurred_at"]) == opened.occurred_at
    assert logged["source"] == f"submission:{origin.submission_id}"
    assert logged["case_id"] == opened.subject

    # The standard timeline is scheduled as ever, beside it.
    async def whole_timeline():
        found = await activities_of(service, opened.subject)
        return found if len(found) >= 3 else None

    timeline = await eventually(whole_timeline, timeout_s=20)
    assert sorted(a["type"] for a in timeline) == ["follow_up_call", "open_case", "web_form"]
    said = await service.said(topics.ACTIVITY_EVENTS, opened.subject, expected=3)
    assert len(said) == 3
    web_form_said = [m for m in said if m["data"]["activity"]["type"] == "web_form"]
    assert [(m["type"], m["data"]["activity"]["id"]) for m in web_form_said] == [
        ("activity.completed", logged["id"])
    ]


async def test_each_submission_attached_to_an_open_case_is_logged_once(service):
    case_id, client = uuid.uuid4(), uuid.uuid4()
    first, second = from_form(), from_form("complaint", details=None)
    attached = case_event(
        CASE_SUBMISSION_ATTACHED, case_id, clients=[client], version=2, origin=first
    )
    # The same submission attached twice (a second event from case-svc), and redelivered.
    attached_again = case_event(
        CASE_SUBMISSION_ATTACHED, case_id, clients=[client], version=3, origin=first
    )
    other = case_event(
        CASE_SUBMISSION_ATTACHED, case_id, clients=[client], version=4, origin=second
    )
    for envelope in (attached, attached, attached_again, other):
        await service.deliver(topics.CASE_EVENTS, envelope)

    logged = await web_forms_of(service, case_id, count=2)
    assert [(a["subject"], a["details"], a["source"]) for a in logged] == [
        ("Web form: contact", "I hear drums at 3am", f"submission:{first.submission_id}"),
        ("Web form: complaint", None, f"submission:{second.submission_id}"),
    ]
    assert [datetime.fromisoformat(a["occurred_at"]) for a in logged] == [
        attached.occurred_at,
        other.occurred_at,
    ]
    assert {a["status"] for a in logged} == {"completed"}
    assert all(a["with_contact_ids"] == [str(client)] for a in logged)
    said = await service.said(topics.ACTIVITY_EVENTS, str(case_id), expected=2)
    assert sorted(m["data"]["activity"]["id"] for m in said) == sorted(a["id"] for a in logged)


async def test_an_ordinary_case_opening_logs_no_web_form(service):
    case_type = f"enquiry_{uuid.uuid4().hex[:6]}"
    ordinary = case_event(CASE_OPENED, uuid.uuid4(), case_type=case_type)
    # Behind it on the same partition, from a form: once it is logged, the first was handled.
    marker = case_event(CASE_OPENED, uuid.uuid4(), case_type=case_type, origin=from_form())
    await service.deliver(topics.CASETYPE_EVENTS, case_type_published(case_type))
    await service.deliver(topics.CASE_EVENTS, ordinary)
    await service.deliver(topics.CASE_EVENTS, marker, key=ordinary.subject)

    await web_forms_of(service, marker.subject)

    async def whole_timeline():
        found = await activities_of(service, ordinary.subject)
        return found if len(found) >= 2 else None

    timeline = await eventually(whole_timeline, timeout_s=20)
    assert sorted(a["type"] for a in timeline) == ["follow_up_call", "open_case"]
    types = await service.client.get("/activity-types", headers=STAFF_HEADERS)
    web_form = [t for t in types.json() if t["name"] == "web_form"]
    assert [(t["label"], t["system"]) for t in web_form] == [("Web form submission", True)]
