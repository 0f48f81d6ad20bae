"""An activity's life: edit, reschedule, reassign, cancel, complete, the process action (one
transaction), every refusal, the events each change says, system activities from case
events (exactly once), and activity.commands (applied, or dead-lettered with the reason)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaConsumer, TopicPartition

from casestream import topics
from casestream.contracts.activity import (
    CANCEL_ACTIVITY,
    COMPLETE_ACTIVITY,
    SCHEDULE_ACTIVITY,
)
from casestream.contracts.case import (
    CASE_ASSIGNED,
    CASE_CLOSED,
    CASE_STATUS_CHANGED,
    CASE_UPDATED,
    Change,
)
from casestream.envelope import Envelope, new_envelope
from casestream.testing import factories
from casestream.testing.factories import case_state
from casestream.testing.plugin import eventually
from casestream.testing.services import STAFF_HEADERS

DUE = "2025-05-02T10:00:00+00:00"


async def create(service, **body) -> dict:
    answer = await service.client.post(
        "/activities",
        json={"type": "follow_up_call", "case_id": str(uuid.uuid4()), "due_at": DUE, **body},
        headers=STAFF_HEADERS,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


async def get(service, activity_id: str) -> dict:
    return (await service.client.get(f"/activities/{activity_id}", headers=STAFF_HEADERS)).json()


async def timeline(service, case_id: object) -> list[dict]:
    answer = await service.client.get(f"/cases/{case_id}/activities", headers=STAFF_HEADERS)
    return answer.json()["items"]


async def test_an_activity_is_edited_rescheduled_and_reassigned(service):
    activity = await create(service, assignee_ids=["alice"], subject="Call back")
    assert (activity["version"], activity["priority"], activity["created_by"]) == (
        1,
        "normal",
        "tester",
    )
    patch = {
        "subject": "Call back about the noise",
        "priority": "urgent",
        "location": "Town hall, room 2",
        "attachments": [{"name": "letter.pdf", "url": "https://files.example.org/1"}],
        "due_at": "2025-05-09T10:00:00+02:00",
        "assignee_ids": ["bob"],
    }
    answer = await service.client.patch(
        f"/activities/{activity['id']}", json=patch, headers={**STAFF_HEADERS, "If-Match": "1"}
    )
    assert answer.status_code == 200, answer.text
    edited = answer.json()
    assert edited["subject"] == "Call back about the noise" and edited["priority"] == "urgent"
    assert edited["location"] == "Town hall, room 2"
    assert edited["attachments"] == patch["attachments"]
    assert edited["due_at"].startswith("2025-05-09T08:00:00")
    assert (edited["assignee_ids"], edited["version"]) == (["bob"], 2)

    # The same values again change nothing: no new version.
    again = await service.client.patch(
        f"/activities/{activity['id']}", json=patch, headers=STAFF_HEADERS
    )
    assert again.json()["version"] == 2
    stale = await service.client.patch(
        f"/activities/{activity['id']}",
        json={"subject": "x"},
        headers={**STAFF_HEADERS, "If-Match": "1"},
    )
    assert stale.status_code == 409 and "version 1" in stale.json()["detail"]

    said = await service.said(topics.ACTIVITY_EVENTS, activity["case_id"], expected=2)
    assert [m["type"] for m in said] == ["activity.scheduled", "activity.updated"]
    update = said[1]["data"]
    assert update["activity"]["version"] == 2 and update["activity"]["priority"] == "urgent"
    assert set(update["changes"]) == set(patch)
    assert update["changes"]["assignee_ids"] == {"before": ["alice"], "after": ["bob"]}


async def test_bad_edits_are_refused_naming_the_field(service):
    activity = await create(service)
    path = f"/activities/{activity['id']}"
    cases = [
        ({"priority": "whenever"}, ["body", "priority"]),
        ({"priority": None}, ["body", "priority"]),
        ({"due_at": "2025-05-09T10:00:00"}, ["body", "due_at"]),
        ({"attachments": [{"name": "x"}]}, ["body", "attachments", 0, "url"]),
        ({"status": "completed"}, ["body", "status"]),
    ]
    for body, loc in cases:
        answer = await service.client.patch(path, json=body, headers=STAFF_HEADERS)
        assert answer.status_code == 422, body
        assert answer.json()["detail"][0]["loc"] == loc
    bad_version = await service.client.patch(
        path, json={"subject": "x"}, headers={**STAFF_HEADERS, "If-Match": "latest"}
    )
    assert bad_version.json()["detail"][0]["loc"] == ["header", "if-match"]
    for unknown in (
        service.client.patch(f"/activities/{uuid.uuid4()}", json={}, headers=STAFF_HEADERS),
        service.client.post(f"/activities/{uuid.uuid4()}/cancel", headers=STAFF_HEADERS),
        service.client.post(f"/activities/{uuid.uuid4()}/complete", headers=STAFF_HEADERS),
    ):
        assert (await unknown).status_code == 404
    assert (await get(service, activity["id"]))["version"] == 1


async def test_a_cancelled_or_completed_activity_refuses_to_be_done_again(service):
    cancelled = await create(service)
    path = f"/activities/{cancelled['id']}"
    answer = await service.client.post(f"{path}/cancel", headers=STAFF_HEADERS)
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
    for action in ("cancel", "complete"):
        refused = await service.client.post(f"{path}/{action}", headers=STAFF_HEADERS)
        assert refused.status_code == 409
        assert refused.json()["detail"] == f"cannot {action} the activity: it is already cancelled"
    moved = await service.client.patch(
        path, json={"due_at": "2025-06-01T09:00:00+00:00"}, headers=STAFF_HEADERS
    )
    assert moved.status_code == 409 and "rescheduled" in moved.json()["detail"]
    # Notes on what happened can still be added.
    noted = await service.client.patch(path, json={"details": "no answer"}, headers=STAFF_HEADERS)
    assert noted.status_code == 200

    completed = await create(service)
    done = await service.client.post(
        f"/activities/{completed['id']}/complete", json={"outcome": "calm"}, headers=STAFF_HEADERS
    )
    assert done.status_code == 200
    assert done.json()["next"] is None
    assert done.json()["completed"]["outcome"] == "calm"
    assert done.json()["completed"]["occurred_at"] is not None
    for action in ("cancel", "complete"):
        refused = await service.client.post(
            f"/activities/{completed['id']}/{action}", headers=STAFF_HEADERS
        )
        assert refused.status_code == 409 and "already completed" in refused.json()["detail"]
    said = await service.said(topics.ACTIVITY_EVENTS, cancelled["case_id"], expected=3)
    assert [m["type"] for m in said] == [
        "activity.scheduled",
        "activity.cancelled",
        "activity.updated",
    ]
    assert said[1]["data"]["changes"] == {"status": {"before": "scheduled", "after": "cancelled"}}


async def test_the_process_action_completes_and_schedules_the_next_in_one_step(service):
    first = await create(service, assignee_ids=["alice"], with_contact_ids=[str(uuid.uuid4())])
    next_week = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    body = {
        "outcome": "worried",
        "details": "She will send the photos",
        "next": {"type": "email", "subject": "Send the form", "due_at": next_week},
    }
    answer = await service.client.post(
        f"/activities/{first['id']}/complete", json=body, headers=STAFF_HEADERS
    )
    assert answer.status_code == 200, answer.text
    completed, following = answer.json()["completed"], answer.json()["next"]
    assert (completed["status"], completed["outcome"]) == ("completed", "worried")
    assert completed["details"] == "She will send the photos"
    assert following["status"] == "scheduled" and following["type"] == "email"
    assert following["case_id"] == first["case_id"]
    assert following["assignee_ids"] == ["alice"]  # the same people carry on
    assert following["with_contact_ids"] == first["with_contact_ids"]
    assert [a["id"] for a in await timeline(service, first["case_id"])] == [
        first["id"],
        following["id"],
    ]
    said = await service.said(topics.ACTIVITY_EVENTS, first["case_id"], expected=3)
    assert [(m["type"], m["data"]["activity"]["id"]) for m in said] == [
        ("activity.scheduled", first["id"]),
        ("activity.completed", first["id"]),
        ("activity.scheduled", following["id"]),
    ]
    assert said[1]["data"]["changes"]["outcome"] == {"before": None, "after": "worried"}


async def test_a_refused_next_action_leaves_the_first_one_open(service):
    first = await create(service)
    answer = await service.client.post(
        f"/activities/{first['id']}/complete",
        json={"outcome": "ok", "next": {"type": "no_such_type"}},
        headers=STAFF_HEADERS,
    )
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "next", "type"]
    still = await get(service, first["id"])
    assert (still["status"], still["outcome"], still["version"]) == ("scheduled", None, 1)
    assert [a["id"] for a in await timeline(service, first["case_id"])] == [first["id"]]
    said = await service.said(topics.ACTIVITY_EVENTS, first["case_id"], expected=1)
    assert [m["type"] for m in said] == ["activity.scheduled"]


def case_event(case_id: uuid.UUID, kind: str, version: int, **changes: Change) -> Envelope:
    case = case_state(
        at=datetime(2025, 3, 3, tzinfo=UTC),
        id=case_id,
        case_type="enquiry",
        subject="Noise",
        status="in_progress" if kind == CASE_STATUS_CHANGED else "open",
        active=kind != CASE_CLOSED,
        assignee="alice" if kind == CASE_ASSIGNED else None,
        version=version,
    )
    return factories.case_event(case, kind, changes, actor="carol")


async def test_what_case_svc_does_is_logged_on_the_case_once(service):
    case_id = uuid.uuid4()
    status = case_event(
        case_id, CASE_STATUS_CHANGED, 2, status=Change(before="open", after="in_progress")
    )
    assigned = case_event(case_id, CASE_ASSIGNED, 3)
    edited = case_event(case_id, CASE_UPDATED, 4)  # nothing to log
    closed = case_event(case_id, CASE_CLOSED, 5)
    for envelope in (status, status, assigned, edited, closed, assigned):
        await service.deliver(topics.CASE_EVENTS, envelope)

    async def logged():
        found = await timeline(service, case_id)
        return found if len(found) >= 3 else None

    found = await eventually(logged, timeout_s=20)
    await asyncio.sleep(0.5)  # a surplus would show now
    found = await timeline(service, case_id)
    assert [(a["type"], a["type_label"], a["subject"]) for a in found] == [
        ("change_case_status", "Change Case Status", "Status changed from open to in_progress"),
        ("assign_case", "Assign Case", "Case assigned to alice"),
        ("close_case", "Close Case", "Case closed with status open"),
    ]
    assert {a["status"] for a in found} == {"completed"}
    assert {a["created_by"] for a in found} == {"carol"}
    assert found[0]["source"] == f"case-event:{status.id}"
    types = await service.client.get("/activity-types", headers=STAFF_HEADERS)
    system = {t["name"] for t in types.json() if t["system"]}
    assert system >= {
        "change_case_status",
        "assign_case",
        "assign_case_role",
        "close_case",
        "reopen_case",
        "transfer_case",
        "merge_case",
    }


def command(kind: str, case_id: uuid.UUID, **data) -> Envelope:
    return new_envelope(
        type=kind,
        source="automation-svc",
        subject=str(case_id),
        data={"actor": "rule:welcome", **data},  # as sent, bad ones too
    )


async def dead_letters(service, key: str, expected: int, timeout_s: float = 15.0) -> list:
    topic = topics.dead_letter_topic(service.settings.topic(topics.ACTIVITY_COMMANDS))
    consumer = AIOKafkaConsumer(bootstrap_servers=service.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    found: list = []
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(found) < expected and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                found += [r for r in records if r.key.decode() == key]
    finally:
        await consumer.stop()
    return found


async def test_commands_schedule_complete_and_cancel_and_bad_ones_are_dead_lettered(service):
    case_id = uuid.uuid4()
    schedule = command(
        SCHEDULE_ACTIVITY,
        case_id,
        activity={
            "case_id": str(case_id),
            "type": "follow_up_call",
            "subject": "Welcome call",
            "due_at": DUE,
            "assignee_ids": ["alice"],
        },
    )
    await service.deliver(topics.ACTIVITY_COMMANDS, schedule)
    await service.deliver(topics.ACTIVITY_COMMANDS, schedule)  # redelivered
    found = await eventually(lambda: timeline(service, case_id), timeout_s=20)
    welcome = found[0]
    assert (welcome["subject"], welcome["created_by"]) == ("Welcome call", "rule:welcome")
    assert welcome["source"] == f"command:{schedule.id}"
    other = await create(service, case_id=str(case_id), due_at="2025-05-03T10:00:00Z")

    complete = command(
        COMPLETE_ACTIVITY,
        case_id,
        activity_id=welcome["id"],
        outcome="happy",
        next={"type": "email", "subject": "Send the brochure"},
    )
    await service.deliver(topics.ACTIVITY_COMMANDS, complete)
    await service.deliver(
        topics.ACTIVITY_COMMANDS, command(CANCEL_ACTIVITY, case_id, activity_id=other["id"])
    )
    bad = [
        command(CANCEL_ACTIVITY, case_id, activity_id=welcome["id"]),  # completed by then
        command(SCHEDULE_ACTIVITY, case_id, activity={"type": "no_such_type"}),
        command(CANCEL_ACTIVITY, case_id, activity_id=uuid.uuid4()),
        command(CANCEL_ACTIVITY, case_id),
        command("activity.explode", case_id, activity_id=welcome["id"]),
    ]
    for envelope in bad:
        await service.deliver(topics.ACTIVITY_COMMANDS, envelope)

    letters = await dead_letters(service, str(case_id), expected=len(bad))
    errors = {json.loads(r.value)["id"]: dict(r.headers)["dlq-error"].decode() for r in letters}
    assert set(errors) == {str(e.id) for e in bad}
    assert "409 cannot cancel the activity: it is already completed" in errors[str(bad[0].id)]
    assert "(data.activity.type)" in errors[str(bad[1].id)]
    assert "404" in errors[str(bad[2].id)]
    assert "data.activity_id\n  Field required" in errors[str(bad[3].id)]
    assert "unknown command 'activity.explode'" in errors[str(bad[4].id)]
    reasons = {json.loads(r.value)["id"]: dict(r.headers)["dlq-reason"] for r in letters}
    invalid = {str(bad[3].id), str(bad[4].id)}  # do not validate: refused before any handler
    assert {i for i, reason in reasons.items() if reason == b"invalid message"} == invalid
    assert {reasons[str(e.id)] for e in bad if str(e.id) not in invalid} == {b"rejected"}

    found = await timeline(service, case_id)
    by_subject = {a["subject"]: a for a in found}
    assert len(found) == 3
    assert by_subject["Welcome call"]["status"] == "completed"
    assert by_subject["Welcome call"]["outcome"] == "happy"
    assert by_subject["Send the brochure"]["status"] == "scheduled"
    assert by_subject["Send the brochure"]["assignee_ids"] == ["alice"]
    assert (await get(service, other["id"]))["status"] == "cancelled"
