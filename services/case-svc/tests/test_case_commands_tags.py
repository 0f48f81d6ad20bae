"""``case.add_tags`` on case.commands (automation's ``add_tag`` action): the tags the case lacks
are added through the same path as ``POST /cases/{id}/tags`` (one version, one history entry,
one ``case.tagged``), tags already there are no error, a command missing a field is
dead-lettered naming it, and an envelope delivered twice acts once."""

import json
import uuid

import pytest

from casestream import topics
from casestream.contracts.case import ADD_CASE_TAGS
from casestream.envelope import Envelope, new_envelope
from casestream.testing.plugin import eventually

RULE = "rule:tag-vips"


@pytest.fixture
def case_api(service):
    return service.client


@pytest.fixture
def send(service):
    """``await send(envelope)``: onto case.commands, keyed by its subject (the case id)."""

    async def send(envelope: Envelope) -> None:
        await service.deliver(topics.CASE_COMMANDS, envelope)

    return send


@pytest.fixture
async def case(case_api):
    body = {
        "case_type": "general_enquiry",
        "subject": "Noisy neighbours",
        "client": {"first_name": "Ada", "email": "ada@example.org"},
    }
    response = await case_api.post("/cases", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def add_tags(key: str, /, **data) -> Envelope:
    """A command keyed by ``key`` (the case id, also when ``data`` lacks or changes it)."""
    return new_envelope(
        type=ADD_CASE_TAGS,
        source="automation-svc",
        subject=key,
        data={"actor": RULE, **data},  # as sent, bad ones too
    )


async def tags_once_they_include(api, case_id: str, tag: str) -> dict:
    """The case once ``tag`` is on it: commands on one case are handled in order, so every
    command sent before the one adding ``tag`` has been handled too."""

    async def check():
        found = (await api.get(f"/cases/{case_id}")).json()
        return found if tag in found["tags"] else None

    return await eventually(check)


async def case_events(service, case_id: str, expected: int) -> list[dict]:
    """The case's events, read a little past ``expected`` so that a surplus would show."""
    return await service.said(topics.CASE_EVENTS, case_id, expected, timeout_s=20, grace_s=1.5)


async def test_adds_the_missing_tags_and_tags_already_there_change_nothing(
    case_api, case, send, service
):
    case_id = case["id"]
    tagged = await case_api.post(f"/cases/{case_id}/tags", json={"add": ["existing"]})
    assert tagged.status_code == 200, tagged.text

    await send(add_tags(case_id, case_id=case_id, tags=["existing", "vip", "vip", "urgent"]))
    await send(add_tags(case_id, case_id=case_id, tags=["vip", "existing"]))  # all there
    await send(add_tags(case_id, case_id=case_id, tags=["later"]))

    final = await tags_once_they_include(case_api, case_id, "later")
    assert final["tags"] == ["existing", "vip", "urgent", "later"]
    assert final["version"] == 4  # opened, HTTP tag, two commands that changed something
    said = await case_events(service, case_id, expected=4)
    assert [e["type"] for e in said] == ["case.opened"] + ["case.tagged"] * 3
    assert [e["data"]["case"]["version"] for e in said] == [1, 2, 3, 4]
    by_command = said[2]["data"]
    assert by_command["actor"] == RULE
    assert by_command["changes"] == {
        "tags": {"before": ["existing"], "after": ["existing", "vip", "urgent"]}
    }
    history = (await case_api.get(f"/cases/{case_id}/history")).json()
    assert [h["actor"] for h in history] == ["tester", "tester", RULE, RULE]
    # A command that is dead-lettered, sent after them on the case's partition: once it is in
    # the dead-letter topic, so would any of them be.
    marker = add_tags(case_id, case_id=case_id, tags=[])
    await send(marker)
    dead = await service.said_until(
        topics.CASE_COMMANDS + ".dlq",
        lambda record: json.loads(record.value)["id"] == str(marker.id),
        keys=case_id,
    )
    assert dead == []  # adding a tag that is there already is not an error


async def test_commands_missing_a_field_are_dead_lettered_naming_it(case_api, case, send, service):
    case_id = case["id"]
    for data in (
        {"tags": ["vip"]},
        {"case_id": case_id},
        {"case_id": case_id, "tags": []},
        {"case_id": str(uuid.uuid4()), "tags": ["vip"]},
    ):
        await send(add_tags(case_id, **data))

    dead = await service.dead_letters(topics.CASE_COMMANDS, case_id, expected=4)
    errors = [dict(dead_letter.headers)["dlq-error"].decode() for dead_letter in dead]
    # The first three do not validate against AddCaseTags; the fourth is refused.
    reasons = [dict(d.headers)["dlq-reason"] for d in dead]
    assert reasons == [b"invalid message"] * 3 + [b"rejected"]
    assert "data.case_id\n  Field required" in errors[0]
    assert "data.tags\n  Field required" in errors[1]
    assert "data.tags\n  List should have at least 1 item" in errors[2]
    assert "case.add_tags refused: 404" in errors[3] and "not found" in errors[3]
    unchanged = (await case_api.get(f"/cases/{case_id}")).json()
    assert unchanged["tags"] == [] and unchanged["version"] == 1


async def test_the_same_envelope_delivered_twice_tags_once(case_api, case, send, service):
    case_id = case["id"]
    command = add_tags(case_id, case_id=case_id, tags=["vip"])
    await send(command)
    await tags_once_they_include(case_api, case_id, "vip")
    # Staff take the tag off; were the redelivery acted on again, it would put it back.
    removed = await case_api.post(f"/cases/{case_id}/tags", json={"remove": ["vip"]})
    assert removed.status_code == 200, removed.text
    await send(command)
    await send(add_tags(case_id, case_id=case_id, tags=["marker"]))

    final = await tags_once_they_include(case_api, case_id, "marker")
    assert final["tags"] == ["marker"]
    said = await case_events(service, case_id, expected=4)
    assert [(e["type"], e["data"]["actor"]) for e in said] == [
        ("case.opened", "tester"),
        ("case.tagged", RULE),  # vip, once
        ("case.tagged", "tester"),  # vip removed
        ("case.tagged", RULE),  # marker
    ]
    assert said[1]["data"]["changes"] == {"tags": {"before": [], "after": ["vip"]}}
