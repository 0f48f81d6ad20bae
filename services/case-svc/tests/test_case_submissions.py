"""Web form submissions in case-svc: the duplicate-contact rules, one contact when the same new
person submits twice at once, joining an open case, and every outcome on
case.submission_outcomes (rejections with a reason, retries after the fix).

On the session's service: each test's people have names and emails of their own (contacts
are matched across every test's), and it reads only the outcomes of its own submissions
and the events they caused."""

import asyncio
import json
import uuid
from collections import defaultdict
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from case_svc.handlers import Handlers
from casestream import topics
from casestream.contracts.intake import (
    SUBMISSION_RECEIVED,
    SubmissionEnvelope,
    SubmissionReceived,
)
from casestream.envelope import new_envelope
from casestream.persistence.database import Database

from .conftest import DEMO_CASE_TYPE, unique

FORM = "contact"


def submission(**fields) -> SubmissionReceived:
    values = dict(
        submission_id=uuid.uuid4(),
        form=FORM,
        case_type="general_enquiry",
        received_at=datetime.now(UTC),
        contact={},
        case={},
    )
    return SubmissionReceived(**(values | fields))


def person() -> str:
    """A name (and email part) of the test's own: contacts are matched across tests."""
    return unique("p").replace("_", "")


def announced(submission: SubmissionReceived, key: str = "person"):
    """As intake-svc announces it: keyed by the person, a new envelope id each time."""
    return new_envelope(
        type=SUBMISSION_RECEIVED, source="test-intake", subject=key, data=submission
    )


@pytest.fixture
def case_api(service):
    return service.client


@pytest.fixture
def settings(service):
    return service.settings


@pytest.fixture
async def database(settings):
    database = Database(settings.database_url)
    yield database
    await database.dispose()


@pytest.fixture
def submit(database, settings):
    """Put envelopes on intake.submissions through case-svc's outbox (its relay sends them):
    one key, one partition, handled in the order given."""

    async def submit(*envelopes):
        async with database.transaction() as tx:
            for envelope in envelopes:
                await tx.publish(settings.topic(topics.INTAKE_SUBMISSIONS), envelope)

    return submit


@pytest.fixture
def outcomes(service):
    """The outcomes of ``submissions`` said so far, once ``expected`` have come: per
    submission id, in order."""

    async def outcomes(
        expected: int, *submissions: SubmissionReceived, grace_s: float = 0.0
    ) -> dict[str, list[dict]]:
        records = await service.records(
            topics.CASE_SUBMISSION_OUTCOMES,
            {str(s.submission_id) for s in submissions},
            expected=expected,
            timeout_s=30,
            grace_s=grace_s,
        )
        by_submission = defaultdict(list)
        for record in records:
            envelope = json.loads(record.value)
            assert envelope["subject"] == record.key.decode() == envelope["data"]["submission_id"]
            by_submission[envelope["subject"]].append(envelope)
        assert sum(map(len, by_submission.values())) == expected, by_submission
        return by_submission

    return outcomes


def said(outcomes: dict[str, list[dict]], submission: SubmissionReceived) -> dict:
    """The (last) outcome said for ``submission``."""
    return outcomes[str(submission.submission_id)][-1]["data"]


def caused_by(*submissions: SubmissionReceived):
    """``match`` for the case events whose origin is one of ``submissions``."""
    ids = {str(s.submission_id) for s in submissions}

    def match(record) -> bool:
        origin = json.loads(record.value)["data"].get("origin") or {}
        return origin.get("submission_id") in ids

    return match


async def test_contacts_are_matched_by_email_then_by_name_and_phone(case_api, submit, outcomes):
    phone, family = "+44 20 7946 0000", person()
    ada = {"first_name": "Ada", "last_name": family, "email": f"ada.{family}@example.org"}
    first = submission(contact=ada | {"phone": phone})
    by_email = submission(
        contact={"first_name": "Augusta", "email": f"  ADA.{family}@Example.org "}
    )
    by_name_and_phone = submission(
        contact={
            "first_name": " ada",
            "last_name": f"{family.upper()} ",
            "email": f"countess.{family}@example.org",  # no contact has it: names, phone match
            "phone": "(44) 20-7946-0000",
        },
        duplicate_contact_rule="email_or_name_phone",
    )
    no_email = submission(
        contact={"first_name": "Ada", "last_name": family, "phone": "442079460000"},
        duplicate_contact_rule="email_or_name_phone",
    )
    # The rule "email" does not look at names and phones: no email, a new contact.
    email_rule = submission(contact={"first_name": "Ada", "last_name": family, "phone": phone})
    other_phone = submission(
        contact={"first_name": "Ada", "last_name": family, "phone": "+44 20 7946 0001"},
        duplicate_contact_rule="email_or_name_phone",
    )
    everyone = [first, by_email, by_name_and_phone, no_email, email_rule, other_phone]
    await submit(*map(announced, everyone))
    told = await outcomes(6, *everyone)

    ada_id = said(told, first)["contact_id"]
    assert said(told, first)["contact"] == "created"
    for matched in (by_email, by_name_and_phone, no_email):
        assert said(told, matched) | {"case_id": None} == {
            "submission_id": str(matched.submission_id),
            "form": FORM,
            "attempt": 1,
            "outcome": "case_opened",
            "case_id": None,
            "contact_id": ada_id,
            "contact": "matched",
            "reason": None,
        }
    for new in (email_rule, other_phone):
        assert said(told, new)["contact"] == "created" and said(told, new)["contact_id"] != ada_id
    cases = {said(told, s)["case_id"] for s in everyone}
    assert len(cases) == 6 and None not in cases

    found = (await case_api.get("/contacts", params={"q": family})).json()["items"]
    assert len(found) == 3
    matched_contact = (await case_api.get(f"/contacts/{ada_id}")).json()
    assert matched_contact["email"] == f"ada.{family}@example.org"  # a match changes nothing
    case = (await case_api.get(f"/cases/{said(told, by_name_and_phone)['case_id']}")).json()
    assert [c["id"] for c in case["clients"]] == [ada_id]


async def test_merged_away_contacts_resolve_to_their_survivor(case_api, submit, outcomes):
    family = person()
    bea = {"first_name": "Bea", "last_name": family, "email": f"bea.{family}@example.org"}
    first = submission(contact=bea | {"phone": "555 0100"})
    await submit(announced(first))
    merged_away = said(await outcomes(1, first), first)["contact_id"]
    survivor = (
        await case_api.post(
            "/contacts",
            json={"first_name": "Beatrice", "last_name": "Jones", "email": f"bj.{family}@x.org"},
        )
    ).json()["id"]
    merge = {"other_contact_id": merged_away}
    assert (await case_api.post(f"/contacts/{survivor}/merge", json=merge)).status_code == 200

    by_email = submission(contact={"email": f"BEA.{family}@example.org"})
    by_name_and_phone = submission(
        contact={"first_name": "bea", "last_name": family.upper(), "phone": "5550100"},
        duplicate_contact_rule="email_or_name_phone",
    )
    await submit(announced(by_email), announced(by_name_and_phone))
    told = await outcomes(3, first, by_email, by_name_and_phone)
    for again in (by_email, by_name_and_phone):
        assert (said(told, again)["contact"], said(told, again)["contact_id"]) == (
            "matched",
            survivor,
        )


@pytest.mark.parametrize(
    "rule, second_email",
    [("email", " SAME.{}@example.org"), ("email_or_name_phone", "other.{}@example.org")],
)
async def test_the_same_new_person_twice_at_once_makes_one_contact(
    case_api, settings, database, outcomes, rule, second_email
):
    """Two consumers' transactions at once (as two replicas would run them), both open before
    either looks for the contact."""
    handler = Handlers(settings).take_in_submission
    family = person()
    grace = {"first_name": "Grace", "last_name": family, "phone": "555 0199"}
    twins = [
        submission(contact=grace | {"email": email.format(family)}, duplicate_contact_rule=rule)
        for email in ("same.{}@example.org", second_email)
    ]
    both_open = asyncio.Barrier(2)

    async def handle(twin: SubmissionReceived) -> None:
        async with database.transaction() as tx:
            await tx.session.execute(sa.text("SELECT 1"))  # the transaction has begun
            await both_open.wait()
            envelope = announced(twin, key=str(twin.submission_id)).model_dump()
            await handler(SubmissionEnvelope.model_validate(envelope), tx)

    await asyncio.gather(*map(handle, twins))

    found = (await case_api.get("/contacts", params={"q": family})).json()["items"]
    assert len(found) == 1
    told = await outcomes(2, *twins)
    assert sorted(said(told, t)["contact"] for t in twins) == ["created", "matched"]
    assert {said(told, t)["contact_id"] for t in twins} == {found[0]["id"]}


async def test_add_activity_joins_the_newest_open_case_and_not_a_closed_one(
    case_api, service, submit, outcomes
):
    family = person()
    alan = {"first_name": "Alan", "last_name": family, "email": f"alan.{family}@example.org"}
    first = submission(
        contact=alan,
        existing_open_case="add_activity",  # a new person has no case: one opens
        case={"subject": "First"},
        activity_details="Hello",
    )
    second = submission(contact=alan, case={"subject": "Second"})  # new_case: opens another
    third = submission(
        contact=alan | {"email": f" ALAN.{family.upper()}@example.org"},
        existing_open_case="add_activity",
        case={"subject": "Third", "details": "Any news?", "custom": {"ward": "East"}},
    )
    third_announced = announced(third)
    await submit(announced(first), announced(second), third_announced)
    told = await outcomes(3, first, second, third)
    assert said(told, first)["outcome"] == said(told, second)["outcome"] == "case_opened"
    newest = said(told, second)["case_id"]
    assert said(told, third) | {"submission_id": None} == {
        "submission_id": None,
        "form": FORM,
        "attempt": 1,
        "outcome": "attached",
        "case_id": newest,
        "contact_id": said(told, first)["contact_id"],
        "contact": "matched",
        "reason": None,
    }

    case = (await case_api.get(f"/cases/{newest}")).json()
    assert (case["version"], case["subject"], case["custom"]) == (2, "Second", {})  # no changes
    history = (await case_api.get(f"/cases/{newest}/history")).json()
    assert [(h["action"], h["actor"]) for h in history] == [
        ("case.opened", f"webform:{FORM}"),
        ("case.submission_attached", f"webform:{FORM}"),
    ]
    assert history[1]["changes"] == {
        "submission": {"before": None, "after": str(third.submission_id)}
    }
    events = await service.said(
        topics.CASE_EVENTS, None, expected=3, grace_s=0.5, match=caused_by(first, second, third)
    )
    # Keyed by case: in order per case, in any order between cases.
    by_case = {e["data"]["case"]["id"]: [] for e in events}
    for e in events:
        by_case[e["data"]["case"]["id"]].append(e)
    assert [e["type"] for e in by_case[newest]] == ["case.opened", "case.submission_attached"]
    (opened_first,) = by_case[said(told, first)["case_id"]]
    assert opened_first["type"] == "case.opened"
    assert opened_first["data"]["origin"] == {
        "submission_id": str(first.submission_id),
        "form": FORM,
        "activity_details": "Hello",
    }
    attached = by_case[newest][1]["data"]
    assert attached["case"]["id"] == newest and attached["case"]["version"] == 2
    assert attached["actor"] == f"webform:{FORM}"
    assert attached["origin"] == {
        "submission_id": str(third.submission_id),
        "form": FORM,
        "activity_details": "Any news?",  # the form gave the activity none: the details
    }

    # The same submission sent again (a new envelope): nothing new, its outcome said again.
    await submit(announced(third))
    told = await outcomes(4, first, second, third)
    again = told[str(third.submission_id)]
    assert [o["data"] for o in again] == [said(told, third)] * 2
    assert again[0]["id"] == again[1]["id"] == str(uuid.uuid5(third.submission_id, "1"))
    assert (await case_api.get(f"/cases/{newest}")).json()["version"] == 2

    # Closed cases do not count: with none open, a case opens.
    for case_id in {said(told, first)["case_id"], newest}:
        closing = await case_api.post(f"/cases/{case_id}/close", json={"status": "resolved"})
        assert closing.status_code == 200, closing.text
    fourth = submission(contact=alan, existing_open_case="add_activity")
    await submit(announced(fourth))
    told = await outcomes(5, first, second, third, fourth)
    assert said(told, fourth)["outcome"] == "case_opened"
    assert said(told, fourth)["contact"] == "matched"
    assert said(told, fourth)["case_id"] not in {said(told, first)["case_id"], newest}


async def test_a_rejected_submission_is_said_with_its_reason_and_can_be_retried(
    case_api, service, submit, outcomes
):
    case_type, family, key = unique("enquiry"), person(), person()
    assert (await case_api.put(f"/case-types/{case_type}", json=DEMO_CASE_TYPE)).status_code == 201
    inactive = DEMO_CASE_TYPE | {"active": False}
    assert (await case_api.put(f"/case-types/{case_type}", json=inactive)).status_code == 200
    kim_email, lee = f"kim.{family}@example.org", f"Lee{family}"
    kim = submission(
        case_type=case_type,
        contact={"first_name": "Kim", "email": kim_email},
        case={"subject": "Hi", "custom": {"colour": "red"}},
    )
    await submit(announced(kim, key))
    told = await outcomes(1, kim)
    assert said(told, kim) == {
        "submission_id": str(kim.submission_id),
        "form": FORM,
        "attempt": 1,
        "outcome": "rejected",
        "case_id": None,
        "contact_id": None,
        "contact": None,
        "reason": f"case_type: case type '{case_type}' is not active",
    }

    async def no_contact_nor_case() -> None:
        for params in ({"email": kim_email}, {"q": family}):
            assert (await case_api.get("/contacts", params=params)).json()["items"] == []
        params = {"case_type": case_type, "active": "all"}
        assert (await case_api.get("/cases", params=params)).json()["items"] == []

    # Handled, and nothing else changed: no contact, no case.
    await no_contact_nor_case()

    # Staff make the case type active again and retry: the custom value is refused now.
    assert (await case_api.put(f"/case-types/{case_type}", json=DEMO_CASE_TYPE)).is_success
    retry = kim.model_copy(update={"attempt": 2})
    bad_email = submission(
        case_type=case_type, contact={"first_name": lee, "email": "not-an-email"}
    )
    await submit(announced(retry, key), announced(bad_email, key))
    told = await outcomes(3, kim, bad_email)
    assert said(told, retry)["attempt"] == 2 and said(told, retry)["outcome"] == "rejected"
    assert said(told, retry)["reason"] == (
        "case.custom.colour: the case type has no custom field 'colour'"
    )
    assert said(told, bad_email)["outcome"] == "rejected"
    assert said(told, bad_email)["reason"].startswith("contact.email: ")
    await no_contact_nor_case()

    # The case type gains the field; the third attempt opens the case. Its envelope
    # delivered twice is handled once (the inbox).
    with_colour = json.loads(json.dumps(DEMO_CASE_TYPE))
    with_colour["definition"]["custom_fields"].append({"name": "colour", "label": "Colour"})
    assert (await case_api.put(f"/case-types/{case_type}", json=with_colour)).is_success
    third = announced(kim.model_copy(update={"attempt": 3}), key)
    await submit(third, third)
    told = await outcomes(4, kim, bad_email, grace_s=1.0)
    opened = said(told, kim)
    assert (opened["attempt"], opened["outcome"], opened["contact"]) == (
        3,
        "case_opened",
        "created",
    )
    ids = [o["id"] for o in told[str(kim.submission_id)]]
    assert ids == [str(uuid.uuid5(kim.submission_id, str(n))) for n in (1, 2, 3)]
    case = (await case_api.get(f"/cases/{opened['case_id']}")).json()
    assert case["custom"] == {"colour": "red"} and case["clients"][0]["id"] == opened["contact_id"]
    listed = await case_api.get("/cases", params={"case_type": case_type, "active": "all"})
    assert [c["id"] for c in listed.json()["items"]] == [opened["case_id"]]

    # Every case event these submissions caused, and every contact event about their people.
    events = await service.said(
        topics.CASE_EVENTS, None, expected=1, grace_s=0.5, match=caused_by(kim, bad_email)
    )
    assert [(e["type"], e["data"]["case"]["id"]) for e in events] == [
        ("case.opened", opened["case_id"])
    ]

    def about_them(record) -> bool:
        contact = json.loads(record.value)["data"]["contact"]
        return contact["email"] == kim_email or contact["first_name"] == lee

    contacts = await service.said(
        topics.CONTACT_EVENTS, None, expected=1, grace_s=0.5, match=about_them
    )
    assert [c["data"]["contact"]["id"] for c in contacts] == [opened["contact_id"]]
    # None was dead-lettered: a poison message on the same key (the same partition), sent
    # after they were all handled, is; anything dead-lettered before it would be there too.
    poison = f"not json {key}".encode()
    await service.deliver(topics.INTAKE_SUBMISSIONS, poison, key=key)
    dead = await service.said_until(
        topics.INTAKE_SUBMISSIONS + ".dlq", lambda record: record.value == poison, keys=key
    )
    assert dead == []
