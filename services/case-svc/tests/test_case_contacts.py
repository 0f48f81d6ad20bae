"""Contacts over HTTP: create, find, change, and merge (cases and roles move to the survivor).

On the session's service: each test makes its own contacts with unique names, and reads
only the events about them."""

import uuid
from datetime import date

import pytest

from case_svc.tables import case_roles
from casestream import topics

from .conftest import AS


@pytest.fixture
def api(service):
    return service.client


@pytest.fixture
def said(service):
    """``await said(topic, subjects, expected)``: the events on ``topic`` about ``subjects``,
    once ``expected`` have arrived, plus any that follow within a second (so a surplus shows)."""

    async def read(topic, subjects, expected, timeout_s=20.0):
        return await service.said(topic, subjects, expected, timeout_s=timeout_s)

    return read


def unique(word):
    return f"{word}{uuid.uuid4().hex[:6]}"


async def new_contact(api, **fields):
    response = await api.post("/contacts", json=fields)
    assert response.status_code == 201, response.text
    return response.json()


async def new_case(api, *client_ids):
    body = {"case_type": "general_enquiry", "subject": "Help", "client_ids": list(client_ids)}
    response = await api.post("/cases", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def test_contacts_are_created_and_incomplete_ones_refused_naming_the_field(api):
    ada = await new_contact(api, first_name=" Ada ", last_name="Lovelace", email="ada@example.org")
    assert ada["display_name"] == "Ada Lovelace" and ada["first_name"] == "Ada"
    org = await new_contact(api, contact_type="organization", organization_name="Acme Ltd")
    assert org["display_name"] == "Acme Ltd" and org["contact_type"] == "organization"
    only_email = await new_contact(api, email="someone@example.org")
    assert only_email["display_name"] == "someone@example.org"
    assert (await api.get(f"/contacts/{ada['id']}")).json() == ada
    assert (await api.get(f"/contacts/{uuid.uuid4()}")).status_code == 404
    # Contacts are open to every staff token, whatever its case rights.
    assert (await api.get(f"/contacts/{ada['id']}", headers=AS["nobody"])).status_code == 200
    assert (await api.get("/contacts", headers={"Authorization": "Bearer no"})).status_code == 401

    refused = [
        ({"first_name": "  "}, ["body", "first_name"]),
        ({"contact_type": "organization", "first_name": "Bob"}, ["body", "display_name"]),
        ({"email": "not-an-email"}, ["body", "email"]),
        ({"first_name": "A", "nickname": "x"}, ["body", "nickname"]),
    ]
    for body, loc in refused:
        response = await api.post("/contacts", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["detail"][0]["loc"] == loc, response.text


async def test_contacts_are_found_by_email_and_by_text(api):
    navy, family = unique("navy"), unique("hopper")
    grace = await new_contact(api, first_name="Grace", last_name=family, email=f"Grace@{navy}.mil")
    shared = await new_contact(
        api, contact_type="organization", display_name="US Navy", email=f"grace@{navy}.mil"
    )
    other = await new_contact(api, first_name="Alan", last_name=family, email=f"alan@{navy}.org")

    async def ids(**params):
        response = await api.get("/contacts", params=params)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["items"]]

    # Duplicates by email are allowed (organisations share addresses); both are found.
    assert await ids(email=f"  GRACE@{navy.upper()}.MIL ") == [grace["id"], shared["id"]]
    assert await ids(email=f"grace@{navy}") == []
    assert await ids(q=family.upper()) == [grace["id"], other["id"]]
    assert await ids(q=f"grace {family[:8]}") == [grace["id"]]  # first and last name together
    assert await ids(q=f"{navy}.MIL") == [grace["id"], shared["id"]]
    assert await ids(q=f"{navy}_org") == []  # _ and % are text, not wildcards
    first = (await api.get("/contacts", params={"q": navy, "limit": 2})).json()
    params = {"q": navy, "limit": 2, "cursor": first["next_cursor"]}
    rest = (await api.get("/contacts", params=params)).json()
    everyone = [c["id"] for c in first["items"] + rest["items"]]
    assert everyone == [grace["id"], shared["id"], other["id"]] and rest["next_cursor"] is None


async def test_a_change_is_announced_with_what_changed_and_no_change_says_nothing(api, said):
    ada = await new_contact(api, first_name="Ada", last_name="Byron", email="ada@example.org")
    url = f"/contacts/{ada['id']}"
    changed = await api.patch(url, json={"last_name": "Lovelace", "do_not_email": True})
    assert changed.status_code == 200, changed.text
    assert changed.json()["display_name"] == "Ada Lovelace"  # made from the names: follows them
    same = await api.patch(url, json={"last_name": "Lovelace", "email": "ada@example.org"})
    assert same.status_code == 200 and same.json()["updated_at"] == changed.json()["updated_at"]
    phone = await api.patch(url, json={"phone": "+44 20 7946 0000"})
    assert phone.json()["phone"] == "+44 20 7946 0000"

    refused = [
        ({"first_name": None, "last_name": None, "email": None}, ["body", "first_name"]),
        ({"email": "nope"}, ["body", "email"]),
        ({"do_not_email": None}, ["body", "do_not_email"]),
        ({"contact_type": "organization"}, ["body", "contact_type"]),
    ]
    for body, loc in refused:
        response = await api.patch(url, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["detail"][0]["loc"] == loc
    assert (await api.patch(f"/contacts/{uuid.uuid4()}", json={})).status_code == 404

    events = await said(topics.CONTACT_EVENTS, {ada["id"]}, expected=3)
    # An event for the no-op would come between the two changes (one key keeps its order).
    assert [e["type"] for e in events] == ["contact.created", "contact.updated", "contact.updated"]
    assert events[1]["data"]["changes"] == {
        "last_name": {"before": "Byron", "after": "Lovelace"},
        "display_name": {"before": "Ada Byron", "after": "Ada Lovelace"},
        "do_not_email": {"before": False, "after": True},
    }
    assert events[1]["data"]["contact"]["do_not_email"] is True
    assert events[2]["data"]["changes"] == {"phone": {"before": None, "after": "+44 20 7946 0000"}}
    assert events[2]["data"]["contact"]["last_name"] == "Lovelace"


async def add_role(service, case, contact, role="case_coordinator"):
    """Straight into the table: the role endpoint is not what this file tests."""
    async with service.database.transaction() as tx:
        row = {
            "id": uuid.uuid4(),
            "case_id": uuid.UUID(case["id"]),
            "role": role,
            "contact_id": uuid.UUID(contact["id"]),
            "start_date": date(2024, 1, 1),
        }
        await tx.session.execute(case_roles.insert(), [row])


async def test_a_merge_moves_cases_and_roles_to_the_survivor_and_says_so(api, service, said):
    name = unique("ann")
    survivor = await new_contact(api, email=f"{name}@example.org")
    other = await new_contact(
        api, first_name=name, last_name="Lee", email=f"{name}.lee@example.org", phone="555"
    )
    bystander = await new_contact(api, first_name="Bo")
    alone = await new_case(api, other["id"])  # the other is its only client
    both = await new_case(api, other["id"], bystander["id"], survivor["id"])  # both clients
    role_only = await new_case(api, bystander["id"])  # the other holds a role
    untouched = await new_case(api, survivor["id"])
    await add_role(service, role_only, other)
    await add_role(service, both, other)
    await add_role(service, both, survivor)  # the same role for the same period: not doubled

    response = await api.post(
        f"/contacts/{survivor['id']}/merge", json={"other_contact_id": other["id"]}
    )
    assert response.status_code == 200, response.text
    merged = response.json()
    assert merged["id"] == survivor["id"] and merged["email"] == f"{name}@example.org"
    filled = (merged["first_name"], merged["phone"], merged["display_name"])
    assert filled == (name, "555", f"{name} Lee")
    gone = (await api.get(f"/contacts/{other['id']}")).json()
    assert gone["merged_into"] == survivor["id"]

    def client_ids(case):
        return [c["id"] for c in case["clients"]]

    cases = {
        c["id"]: (await api.get(f"/cases/{c['id']}")).json()
        for c in (alone, both, role_only, untouched)
    }
    assert client_ids(cases[alone["id"]]) == [survivor["id"]]
    assert client_ids(cases[both["id"]]) == [survivor["id"], bystander["id"]]
    assert [r["contact_id"] for r in cases[both["id"]]["roles"]] == [survivor["id"]]
    assert [r["contact_id"] for r in cases[role_only["id"]]["roles"]] == [survivor["id"]]
    assert cases[untouched["id"]]["version"] == 1
    assert all(cases[c["id"]]["version"] == 2 for c in (alone, both, role_only))
    history = (await api.get(f"/cases/{both['id']}/history")).json()
    assert [h["action"] for h in history] == ["case.opened", "case.updated"]
    assert history[1]["actor"] == "tester"
    assert history[1]["changes"]["clients"] == {
        "before": [other["id"], bystander["id"], survivor["id"]],
        "after": [survivor["id"], bystander["id"]],
    }
    assert len(history[1]["changes"]["roles"]["before"]) == 2
    assert len(history[1]["changes"]["roles"]["after"]) == 1
    listed = (await api.get("/contacts", params={"q": name})).json()["items"]
    assert [c["id"] for c in listed] == [survivor["id"]]
    everyone = (await api.get("/contacts", params={"q": name, "include_merged": "true"})).json()
    assert [c["id"] for c in everyone["items"]] == [survivor["id"], other["id"]]
    assert (await api.get("/cases", params={"client_id": other["id"]})).json()["items"] == []

    affected = {c["id"] for c in (alone, both, role_only, untouched)}
    case_events = await said(topics.CASE_EVENTS, affected, expected=7)
    assert sorted(e["type"] for e in case_events) == ["case.opened"] * 4 + ["case.updated"] * 3
    updated = {e["subject"]: e["data"] for e in case_events if e["type"] == "case.updated"}
    assert updated[alone["id"]]["changes"] == {
        "clients": {"before": [other["id"]], "after": [survivor["id"]]}
    }
    assert updated[alone["id"]]["case"]["clients"][0]["phone"] == "555"
    roles = updated[role_only["id"]]["changes"]["roles"]
    assert list(updated[role_only["id"]]["changes"]) == ["roles"]
    assert [r["contact_id"] for r in roles["before"]] == [other["id"]]
    assert [r["contact_id"] for r in roles["after"]] == [survivor["id"]]
    assert updated[role_only["id"]]["case"]["version"] == 2
    assert updated[role_only["id"]]["actor"] == "tester"

    contact_events = await said(topics.CONTACT_EVENTS, {survivor["id"], other["id"]}, expected=3)
    assert [e["type"] for e in contact_events if e["subject"] == survivor["id"]] == [
        "contact.created",
        "contact.merged",
    ]
    data = next(e["data"] for e in contact_events if e["type"] == "contact.merged")
    assert data["merged_contact_id"] == other["id"] and data["contact"]["id"] == survivor["id"]
    assert data["contact"]["phone"] == "555" and data["contact"]["merged_into"] is None
    assert data["changes"]["phone"] == {"before": None, "after": "555"}
    assert data["changes"]["display_name"] == {
        "before": f"{name}@example.org",
        "after": f"{name} Lee",
    }


async def test_merges_that_make_no_sense_are_refused(api):
    a = await new_contact(api, first_name="A")
    b = await new_contact(api, first_name="B")
    c = await new_contact(api, first_name="C")

    async def merge(into, other, headers=None):
        return await api.post(
            f"/contacts/{into}/merge", json={"other_contact_id": other}, headers=headers or {}
        )

    itself = await merge(a["id"], a["id"])
    assert itself.status_code == 422
    assert itself.json()["detail"][0]["loc"] == ["body", "other_contact_id"]
    assert (await merge(a["id"], str(uuid.uuid4()))).status_code == 404
    assert (await merge(uuid.uuid4(), a["id"])).status_code == 404
    # Merging is as destructive as merging cases: delete_cases (or admin) only.
    assert (await merge(a["id"], b["id"], headers=AS["manager"])).status_code == 403
    assert (await merge(a["id"], b["id"])).status_code == 200
    assert (await merge(c["id"], b["id"])).status_code == 409  # b is already merged
    assert (await merge(b["id"], c["id"])).status_code == 409  # into a merged contact
    assert (await api.patch(f"/contacts/{b['id']}", json={"phone": "1"})).status_code == 409


async def test_a_web_form_finds_the_survivor_after_a_merge(api):
    name = unique("kim")
    survivor = await new_contact(api, first_name="Kim", email=f"{name}@example.org")
    other = await new_contact(api, first_name="Kim", email=f"{name}.old@example.org")
    response = await api.post(
        f"/contacts/{survivor['id']}/merge", json={"other_contact_id": other["id"]}
    )
    assert response.status_code == 200, response.text
    # An inline client goes through find_or_create_by_email, as web form submissions do.
    for email in (f" {name.upper()}.OLD@example.org", f"{name}@example.org"):
        body = {
            "case_type": "general_enquiry",
            "subject": "Again",
            "client": {"first_name": "Kim", "email": email},
        }
        case = await api.post("/cases", json=body)
        assert case.status_code == 201, case.text
        assert [c["id"] for c in case.json()["clients"]] == [survivor["id"]]
    everyone = await api.get("/contacts", params={"q": name, "include_merged": "true"})
    assert len(everyone.json()["items"]) == 2  # no new contact
