"""Every action on a case, every refusal, optimistic concurrency, permissions, the history and
the events each change publishes, and commands arriving on case.commands.

On the session's service: each test has case types of its own (a general one in the
``cases`` instance, where the clerk's and colleague's rights lie, and a deal one in a sales
instance of its own), clients with emails of its own, and reads only its cases' events."""

import asyncio
import json
from typing import Any

import pytest

from casestream import topics
from casestream.contracts.case import CASE_COMMAND_MODELS
from casestream.envelope import new_envelope
from casestream.testing.harness import dead_letter_headers
from casestream.testing.plugin import eventually

from .conftest import AS, DEMO_CASE_TYPE, unique


class Api:
    """The session's client, with the names of this test's own case types: ``general``
    (the demo's general enquiry, plus ``in_progress`` and the ``advocate`` role, at version
    2 as the demo's would be) and ``deal`` (in the instance ``sales``, of its own too)."""

    def __init__(self, client: Any, general: str, deal: str, sales: str, tag: str) -> None:
        self.client, self.general, self.deal, self.sales = client, general, deal, sales
        self.tag = tag  # in the emails of its clients

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)  # get, post, put, patch


async def add_status(client, status) -> None:
    """Statuses are global: the first test to need one adds it."""
    response = await client.post("/case-statuses", json=status)
    assert response.status_code == 201 or (
        response.status_code == 409 and "already exists" in response.text
    ), response.text


@pytest.fixture
async def api(service):
    """The demo set-up plus an opened status, under case types of the test's own: a general
    one (version 2) and a second one in a second instance."""
    client = service.client
    await add_status(
        client, {"name": "in_progress", "label": "In progress", "grouping": "opened", "weight": 2}
    )
    await add_status(client, {"name": "won", "label": "Won", "grouping": "closed", "weight": 4})
    api = Api(client, unique("general"), unique("deal"), unique("sales"), unique("t"))
    created = await client.put(f"/case-types/{api.general}", json=DEMO_CASE_TYPE)
    assert created.status_code == 201, created.text
    general = json.loads(json.dumps(DEMO_CASE_TYPE))
    general["definition"]["statuses"] = ["open", "in_progress", "resolved"]
    general["definition"]["roles"].append({"name": "advocate"})
    response = await client.put(f"/case-types/{api.general}", json=general)
    assert response.status_code == 200 and response.json()["version"] == 2, response.text
    instance = await client.post(
        "/instances",
        json={
            "name": api.sales,
            "label": "Prospects",
            "singular_label": "Prospect",
            "instance_type": "sales_opportunity",
        },
    )
    assert instance.status_code == 201, instance.text
    deal = {
        "title": "Deal",
        "instance": api.sales,
        "definition": {"statuses": ["in_progress", "won"], "custom_fields": []},
    }
    assert (await client.put(f"/case-types/{api.deal}", json=deal)).status_code == 201
    return api


def email(api, subject: str) -> str:
    return f"{subject.replace(' ', '.')}.{api.tag}@example.org"


async def open_case(api, subject="Broken streetlight", headers=None, **extra):
    body = {
        "case_type": api.general,
        "subject": subject,
        "client": {"first_name": "Ada", "email": email(api, subject)},
        **extra,
    }
    response = await api.post("/cases", json=body, headers=headers or {})
    assert response.status_code == 201, response.text
    return response.json()


async def act(api, case, action, body=None, expect=200, headers=None):
    response = await api.post(f"/cases/{case['id']}/{action}", json=body, headers=headers or {})
    assert response.status_code == expect, (action, response.text)
    return response.json()


async def test_the_pool_take_requeue_and_assign(api):
    case = await open_case(api)
    assert case["assignee"] is None
    taken = await act(api, case, "take")
    assert taken["assignee"] == "tester" and taken["version"] == 2
    refused = await act(api, case, "take", expect=409)
    assert "already hold" in refused["detail"]
    other = await act(api, case, "take", expect=409, headers=AS["manager"])
    assert "held by tester" in other["detail"]
    requeued = await act(api, case, "requeue")
    assert requeued["assignee"] is None
    assert "already in the pool" in (await act(api, case, "requeue", expect=409))["detail"]
    assigned = await act(api, case, "assign", {"user": "colleague"})
    assert assigned["assignee"] == "colleague"
    again = await act(api, case, "assign", {"user": "colleague"}, expect=409)
    assert "already assigned" in again["detail"]
    # The colleague can give it back; the clerk (own cases only) cannot even see it.
    await act(api, case, "requeue", headers=AS["colleague"])
    await act(api, case, "take", expect=403, headers=AS["clerk"])


async def test_status_close_reopen_and_their_refusals(api):
    case = await open_case(api)
    moved = await act(api, case, "status", {"status": "in_progress", "note": "started"})
    assert moved["status"] == "in_progress" and moved["status_class"] == "opened"
    assert (await act(api, case, "status", {"status": "won"}, expect=409))["detail"].endswith(
        "does not allow the status 'won'"
    )
    assert (await act(api, case, "status", {"status": "nonsense"}, expect=422))["detail"][0][
        "loc"
    ] == ["body", "status"]
    await act(api, case, "status", {"status": "in_progress"}, expect=409)  # already there
    closed = await act(api, case, "close", {"outcome": "fixed"})
    assert closed["active"] is False and closed["status"] == "resolved"
    assert closed["outcome"] == "fixed" and closed["end_date"]
    assert "already closed" in (await act(api, case, "close", {}, expect=409))["detail"]
    for action, body in (
        ("take", None),
        ("assign", {"user": "x"}),
        ("transfer", {"case_type": api.deal}),
    ):
        assert "closed case" in (await act(api, case, action, body, expect=409))["detail"]
    reopened = await act(api, case, "reopen")
    assert reopened["active"] is True and reopened["status"] == "open"
    assert reopened["outcome"] is None and reopened["end_date"] is None
    assert "is open" in (await act(api, case, "reopen", expect=409))["detail"]
    # Changing to a closed status closes; back to an opened one reopens.
    via_status = await act(api, case, "status", {"status": "resolved"})
    assert via_status["active"] is False
    assert (await act(api, case, "status", {"status": "open"}))["active"] is True
    history = (await api.get(f"/cases/{case['id']}/history")).json()
    assert [h["action"] for h in history] == [
        "case.opened",
        "case.status_changed",
        "case.closed",
        "case.reopened",
        "case.closed",
        "case.reopened",
    ]
    assert history[1]["changes"]["status"] == {"before": "open", "after": "in_progress"}
    assert history[1]["changes"]["note"] == {"before": None, "after": "started"}


async def test_transfer_to_another_type_and_instance(api):
    case = await open_case(api, custom={"ward": "North"})
    await act(api, case, "status", {"status": "in_progress"})
    moved = await act(api, case, "transfer", {"case_type": api.deal})
    assert moved["case_type"] == api.deal and moved["instance"] == api.sales
    assert moved["status"] == "in_progress"  # allowed there too: kept
    assert moved["custom"] == {}  # the deal type has no "ward" field
    assert (
        f"already a '{api.deal}'"
        in (await act(api, moved, "transfer", {"case_type": api.deal}, expect=409))["detail"]
    )
    await act(api, moved, "transfer", {"case_type": "nope"}, expect=404)


async def test_roles_tags_links_and_merge(api):
    case, other = await open_case(api, "first"), await open_case(api, "second")
    contact = (
        await api.post("/contacts", json={"first_name": "Grace", "email": email(api, "grace")})
    ).json()
    with_role = await act(api, case, "roles", {"role": "advocate", "contact_id": contact["id"]})
    role = with_role["roles"][0]
    assert role["role"] == "advocate" and role["end_date"] is None
    await act(api, case, "roles", {"role": "advocate", "contact_id": contact["id"]}, expect=409)
    bad = await act(api, case, "roles", {"role": "judge", "contact_id": contact["id"]}, expect=422)
    assert bad["detail"][0]["loc"] == ["body", "role"]
    ended = await act(api, case, f"roles/{role['id']}/end", {})
    assert ended["roles"][0]["end_date"]
    await act(api, case, f"roles/{role['id']}/end", {}, expect=409)

    tagged = await act(api, case, "tags", {"add": ["urgent", "vip", "urgent"]})
    assert tagged["tags"] == ["urgent", "vip"]
    untagged = await act(api, case, "tags", {"remove": ["vip"]})
    assert untagged["tags"] == ["urgent"]
    same = await act(api, case, "tags", {"add": ["urgent"]})
    assert same["version"] == untagged["version"]  # nothing changed: nothing recorded

    linked = await act(api, case, "links", {"case_id": other["id"]})
    assert linked["linked_case_ids"] == [other["id"]]
    assert (await api.get(f"/cases/{other['id']}")).json()["linked_case_ids"] == [case["id"]]
    await act(api, case, "links", {"case_id": other["id"]}, expect=409)
    await act(api, case, "links", {"case_id": case["id"]}, expect=422)

    await act(
        api, case, "merge", {"other_case_id": other["id"]}, expect=403, headers=AS["manager"]
    )  # merging needs the delete right
    merged = await act(api, case, "merge", {"other_case_id": other["id"]})
    assert {c["email"] for c in merged["clients"]} == {email(api, "first"), email(api, "second")}
    gone = (await api.get(f"/cases/{other['id']}")).json()
    assert gone["merged_into"] == case["id"] and gone["active"] is False
    assert (
        "already merged"
        in (await act(api, case, "merge", {"other_case_id": other["id"]}, expect=409))["detail"]
    )
    assert "merged into" in (await act(api, gone, "reopen", expect=409))["detail"]


async def test_edits_are_optimistic_and_concurrent_ones_lose_nothing(api):
    case = await open_case(api)
    edited = await api.patch(f"/cases/{case['id']}", json={"subject": "New", "version": 1})
    assert edited.status_code == 200 and edited.json()["version"] == 2
    stale = await api.patch(f"/cases/{case['id']}", json={"details": "x", "version": 1})
    assert stale.status_code == 409 and "version 1" in stale.json()["detail"]
    stale_header = await act(api, case, "take", expect=409, headers={"If-Match": '"1"'})
    assert "changed since" in stale_header["detail"]

    # Ten concurrent edits that each saw version 2: exactly one wins.
    answers = await asyncio.gather(
        *(
            api.patch(f"/cases/{case['id']}", json={"details": f"edit {i}", "version": 2})
            for i in range(10)
        )
    )
    assert sorted(r.status_code for r in answers) == [200] + [409] * 9
    # Ten concurrent tags without a version: none is lost.
    await asyncio.gather(*(act(api, case, "tags", {"add": [f"t{i}"]}) for i in range(10)))
    final = (await api.get(f"/cases/{case['id']}")).json()
    assert sorted(final["tags"]) == sorted(f"t{i}" for i in range(10))
    assert final["version"] == 3 + 10
    blank = await api.patch(f"/cases/{case['id']}", json={"subject": None})
    assert blank.status_code == 422


async def test_permissions_follow_the_token(api):
    mine = await open_case(api, "clerk's", headers=AS["clerk"])
    assert mine["created_by"] == "clerk"
    theirs = await open_case(api, "colleague's", headers=AS["colleague"])
    assert (await api.get(f"/cases/{mine['id']}", headers=AS["clerk"])).status_code == 200
    assert (await api.get(f"/cases/{theirs['id']}", headers=AS["clerk"])).status_code == 403
    assert (await api.get(f"/cases/{theirs['id']}/history", headers=AS["clerk"])).status_code == 403
    assert (await api.get(f"/cases/{theirs['id']}", headers=AS["manager"])).status_code == 200
    nobody = await api.post(
        "/cases",
        json={"case_type": api.general, "subject": "x", "client": {"first_name": "A"}},
        headers=AS["nobody"],
    )
    assert nobody.status_code == 403
    config = await api.post(
        "/case-statuses",
        json={"name": "x", "label": "X", "grouping": "opened"},
        headers=AS["manager"],
    )
    assert config.status_code == 403


async def test_every_change_is_announced_with_the_full_state(api, service):
    case = await open_case(api)
    await act(api, case, "take")
    await act(api, case, "status", {"status": "in_progress"})
    await api.patch(f"/cases/{case['id']}", json={"details": "more"})
    await act(api, case, "tags", {"add": ["a"]})
    await act(api, case, "close", {})
    await act(api, case, "reopen")
    said = await service.said(topics.CASE_EVENTS, case["id"], expected=7)
    assert [e["type"] for e in said] == [
        "case.opened",
        "case.assigned",
        "case.status_changed",
        "case.updated",
        "case.tagged",
        "case.closed",
        "case.reopened",
    ]
    assert [e["data"]["case"]["version"] for e in said] == [1, 2, 3, 4, 5, 6, 7]
    assert said[1]["data"]["changes"]["assignee"] == {"before": None, "after": "tester"}
    assert said[3]["data"]["changes"] == {"details": {"before": None, "after": "more"}}
    assert said[5]["data"]["case"]["active"] is False


async def test_commands_go_through_the_same_checks(api, service):
    case = await open_case(api)
    by_command = unique("by command")
    for kind, data in (
        ("case.assign", {"case_id": case["id"], "user": "colleague"}),
        ("case.change_status", {"case_id": case["id"], "status": "won"}),  # not allowed
        ("case.close", {"case_id": case["id"], "outcome": "done"}),
        (
            "case.open",
            {
                "case": {
                    "case_type": api.general,
                    "subject": by_command,
                    "client": {"first_name": "Bo"},
                }
            },
        ),
    ):
        envelope = new_envelope(
            type=kind,
            source="test-app",
            subject=case["id"],
            data=CASE_COMMAND_MODELS[kind](actor="crm-sync", **data),
        )
        await service.deliver(topics.CASE_COMMANDS, envelope)  # keyed by the case
    dead = await service.dead_letters(topics.CASE_COMMANDS, case["id"], expected=1, grace_s=1.0)
    assert len(dead) == 1
    headers = dead_letter_headers(dead[0])
    assert (
        headers["dlq-reason"] == "rejected"
        and "does not allow the status 'won'" in headers["dlq-error"]
    )

    # The commands after the refused one are handled on (the dead letter says nothing of
    # them yet): wait for the last ones to land.
    async def closed_and_opened():
        final = (await api.get(f"/cases/{case['id']}")).json()
        params = {"q": by_command, "case_type": api.general}
        opened = (await api.get("/cases", params=params)).json()["items"]
        return (final, opened) if final["active"] is False and opened else None

    final, opened = await eventually(closed_and_opened)
    assert final["assignee"] == "colleague" and final["outcome"] == "done"
    history = (await api.get(f"/cases/{case['id']}/history")).json()
    assert [h["actor"] for h in history][-2:] == ["crm-sync", "crm-sync"]
    assert len(opened) == 1 and opened[0]["created_by"] == "crm-sync"
    assert opened[0]["subject"] == by_command


async def test_custom_values_are_checked_on_every_write(api):
    typed = json.loads(json.dumps(DEMO_CASE_TYPE))
    typed["definition"]["custom_fields"] = [
        {
            "name": "ward",
            "label": "Ward",
            "type": "select",
            "options": ["North", "South"],
            "required": True,
        },
        {"name": "budget", "label": "Budget", "type": "money"},
    ]
    assert (await api.put(f"/case-types/{api.general}", json=typed)).json()["version"] == 3
    missing = await api.post(
        "/cases",
        json={"case_type": api.general, "subject": "x", "client": {"first_name": "A"}},
    )
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == [
        "body",
        "custom",
        "ward",
    ]
    case = await open_case(api, custom={"ward": "North", "budget": "12.5"})
    assert case["custom"] == {"ward": "North", "budget": "12.50"}
    wrong = await api.patch(f"/cases/{case['id']}", json={"custom": {"ward": "East"}})
    assert wrong.status_code == 422 and "North, South" in wrong.json()["detail"][0]["msg"]
    cleared = await api.patch(f"/cases/{case['id']}", json={"custom": {"budget": None}})
    assert cleared.json()["custom"] == {"ward": "North"}
    bad_definition = json.loads(json.dumps(typed))
    bad_definition["definition"]["custom_fields"][1]["type"] = "colour"
    refused = await api.put(f"/case-types/{api.general}", json=bad_definition)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"][:4] == ["body", "definition", "custom_fields", "1"]


async def test_sales_opportunities_carry_amounts(api):
    deal = await api.post(
        "/cases",
        json={
            "case_type": api.deal,
            "subject": "Big order",
            "client": {"first_name": "Co"},
            "opportunity": {
                "amount": "1200.5",
                "currency": "EUR",
                "expected_close_date": "2027-01-31",
            },
        },
    )
    assert deal.status_code == 201, deal.text
    assert deal.json()["opportunity"] == {
        "amount": "1200.50",
        "currency": "EUR",
        "probability": None,
        "probability_set": False,
        "expected_close_date": "2027-01-31",
    }
    patched = await api.patch(
        f"/cases/{deal.json()['id']}", json={"opportunity": {"probability": 60}}
    )
    assert patched.json()["opportunity"]["probability"] == 60
    assert patched.json()["opportunity"]["amount"] == "1200.50"
    bad = await api.patch(f"/cases/{deal.json()['id']}", json={"opportunity": {"amount": "1.005"}})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "amount"
    elsewhere = await open_case(api)
    refused = await api.patch(f"/cases/{elsewhere['id']}", json={"opportunity": {"amount": "1"}})
    assert refused.status_code == 422 and "sales-opportunity" in refused.json()["detail"][0]["msg"]


async def test_open_cases_keep_the_definition_they_were_opened_with(api):
    old = await open_case(api, "opened under version 2")
    narrowed = json.loads(json.dumps(DEMO_CASE_TYPE))  # without "in_progress"
    narrowed["definition"]["roles"].append({"name": "advocate"})
    assert (await api.put(f"/case-types/{api.general}", json=narrowed)).json()["version"] == 3
    new = await open_case(api, "opened under version 3")
    assert (old["case_type_version"], new["case_type_version"]) == (2, 3)
    assert (await act(api, old, "status", {"status": "in_progress"}))["status"] == "in_progress"
    await act(api, new, "status", {"status": "in_progress"}, expect=409)
