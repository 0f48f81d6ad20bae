"""activity-svc's rights matrix (casestream.testing.rights_matrix): every operation of its
OpenAPI document. Activity types need ``configure`` to add; activities follow their case's
visibility (403 for one outside the token's rights; lists leave them out)."""

from __future__ import annotations

from typing import Any

from activity_svc.cases import keep_cases
from casestream.testing import rights_matrix as rights
from casestream.testing.factories import case_state
from casestream.testing.services import STAFF_HEADERS


async def _case(service: Any, **state: Any) -> str:
    case = case_state(**state)
    async with service.database.transaction() as tx:
        await keep_cases(tx.session, [case])
    return str(case.id)


async def _activity(service: Any, case_id: str) -> str:
    body = {"type": "follow_up_call", "case_id": case_id, "subject": "rights"}
    answer = await service.client.post("/activities", json=body, headers=STAFF_HEADERS)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def test_every_operation_asks_for_its_rights(service):
    with rights.matrix_tokens(service.settings) as tokens:
        mine = await _case(service, assignee=tokens.own_user)
        theirs = await _case(service, created_by="someone-else")
        my_activity, their_activity = (
            await _activity(service, mine),
            await _activity(service, theirs),
        )

        def on_activity(body: Any = None) -> rights.Need:
            return rights.Need(outside=rights.Call(path={"activity_id": their_activity}, json=body))

        needs = {
            ("GET", "/activity-types"): rights.STAFF,
            ("POST", "/activity-types"): rights.CONFIGURE,
            ("POST", "/activities"): rights.Need(
                outside=rights.Call(
                    json={"type": "follow_up_call", "case_id": theirs, "subject": "x"}
                )
            ),
            ("GET", "/activities"): rights.Need(lists=True),
            ("GET", "/activities/{activity_id}"): rights.Need(
                outside=rights.Call(path={"activity_id": their_activity}),
                inside=rights.Call(path={"activity_id": my_activity}),
            ),
            ("PATCH", "/activities/{activity_id}"): on_activity({"subject": "x"}),
            ("POST", "/activities/{activity_id}/cancel"): on_activity(),
            ("POST", "/activities/{activity_id}/complete"): on_activity(),
            ("GET", "/cases/{case_id}/activities"): rights.Need(
                outside=rights.Call(path={"case_id": theirs}),
                inside=rights.Call(path={"case_id": mine}),
            ),
            ("POST", "/cases/{case_id}/timelines"): rights.Need(
                outside=rights.Call(
                    path={"case_id": theirs}, json={"activity_set": "standard_timeline"}
                )
            ),
        }
        assert await rights.failures(service.client, service.app, needs, tokens) == []

        seen = await rights.listed(service.client, "/activities", tokens.own)
        assert my_activity in seen and their_activity not in seen
        assert their_activity not in await rights.listed(
            service.client, "/activities", tokens.nobody
        )
        timeline = f"/cases/{mine}/activities"
        assert await rights.listed(service.client, timeline, tokens.own) == {my_activity}
        # Nothing the matrix sent changed someone else's activity.
        answer = await service.client.get(f"/activities/{their_activity}", headers=STAFF_HEADERS)
        assert (answer.json()["version"], answer.json()["status"]) == (1, "scheduled")
