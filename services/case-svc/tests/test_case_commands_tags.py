"""``case.add_tags`` on case.commands (automation's ``add_tag`` action): the tags the case lacks
are added through the same path as ``POST /cases/{id}/tags`` (one version, one history entry,
one ``case.tagged``), tags already there are no error, a command missing a field is
dead-lettered naming it, and an envelope delivered twice acts once."""

import json
import uuid

import pytest
from aiokafka import AIOKafkaProducer

from casestream import topics
from casestream.contracts.case import ADD_CASE_TAGS, CaseCommand
from casestream.envelope import Envelope, new_envelope
from casestream.testing.plugin import eventually, records_on, records_until

RULE = "rule:tag-vips"


@pytest.fixture
async def send(settings, kafka_bootstrap):
    """``await send(envelope)``: onto case.commands, keyed by its subject (the case id)."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()

    async def send(envelope: Envelope) -> None:
        await producer.send_and_wait(
            settings.topic(topics.CASE_COMMANDS),
            json.dumps(envelope.model_dump(mode="json")).encode(),
            key=envelope.subject.encode(),
        )

    yield send
    await producer.stop()


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
        data=CaseCommand(actor=RULE, **data),
    )


async def tags_once_they_include(api, case_id: str, tag: str) -> dict:
    """The case once ``tag`` is on it: commands on one case are handled in order, so every
    command sent before the one adding ``tag`` has been handled too."""

    async def check():
        found = (await api.get(f"/cases/{case_id}")).json()
        return found if tag in found["tags"] else None

    return await eventually(check)


async def case_events(kafka_bootstrap, settings, case_id: str, expected: int) -> list[dict]:
    """The case's events, read a little past ``expected`` so that a surplus would show."""
    records = await records_on(
        kafka_bootstrap,
        settings.topic(topics.CASE_EVENTS),
        expected=expected,
        keys={case_id},
        grace_s=1.5,
    )
    return [json.loads(r.value) for r in records]


async def test_adds_the_missing_tags_and_tags_already_there_change_nothing(
    case_api, case, send, settings, kafka_bootstrap
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
    said = await case_events(kafka_bootstrap, settings, case_id, expected=4)
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
    dead = await records_until(
        kafka_bootstrap,
        settings.topic(topics.CASE_COMMANDS) + ".dlq",
        lambda record: json.loads(record.value)["id"] == str(marker.id),
        keys={case_id},
    )
    assert dead == []  # adding a tag that is there already is not an error


async def test_commands_missing_a_field_are_dead_lettered_naming_it(
    case_api, case, send, settings, kafka_bootstrap, read_topic
):
    case_id = case["id"]
    for data in (
        {"tags": ["vip"]},
        {"case_id": case_id},
        {"case_id": case_id, "tags": []},
        {"case_id": str(uuid.uuid4()), "tags": ["vip"]},
    ):
        await send(add_tags(case_id, **data))

    dead = await read_topic(settings.topic(topics.CASE_COMMANDS) + ".dlq", expected=4)
    errors = [dict(dead_letter.headers)["dlq-error"].decode() for dead_letter in dead]
    assert {dict(d.headers)["dlq-reason"] for d in dead} == {b"rejected"}
    assert "needs a case_id (data.case_id)" in errors[0]
    assert "at least one tag (data.tags)" in errors[1]
    assert "at least one tag (data.tags)" in errors[2]
    assert "case.add_tags refused: 404" in errors[3] and "not found" in errors[3]
    unchanged = (await case_api.get(f"/cases/{case_id}")).json()
    assert unchanged["tags"] == [] and unchanged["version"] == 1


async def test_the_same_envelope_delivered_twice_tags_once(
    case_api, case, send, settings, kafka_bootstrap
):
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
    said = await case_events(kafka_bootstrap, settings, case_id, expected=4)
    assert [(e["type"], e["data"]["actor"]) for e in said] == [
        ("case.opened", "tester"),
        ("case.tagged", RULE),  # vip, once
        ("case.tagged", "tester"),  # vip removed
        ("case.tagged", RULE),  # marker
    ]
    assert said[1]["data"]["changes"] == {"tags": {"before": [], "after": ["vip"]}}
