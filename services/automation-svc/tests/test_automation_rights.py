"""automation-svc's rights matrix (casestream.testing.rights_matrix): every operation of its
OpenAPI document; rules need ``configure`` to change, firings follow their case's
visibility."""

from __future__ import annotations

import uuid
from typing import Any

from automation_svc.tables import cases, firings
from casestream.persistence.read_models import keep_cases
from casestream.testing import rights_matrix as rights
from casestream.testing.factories import case_state

RULE = {
    "name": "Rights matrix",
    "enabled": False,  # other tests' cases must not fire it
    "trigger": {"event": "case.opened"},
    "conditions": [],
    "actions": [{"type": "send_email", "template": "acknowledgement", "to": ["clients"]}],
}


async def _case(service: Any, **state: Any) -> uuid.UUID:
    case = case_state(**state)
    async with service.database.transaction() as tx:
        await keep_cases(tx.session, cases, [case])
    return case.id


async def _firing(service: Any, case_id: uuid.UUID | None) -> str:
    firing_id = uuid.uuid4()
    async with service.database.transaction() as tx:
        await tx.session.execute(
            firings.insert().values(
                id=firing_id,
                rule_id=uuid.uuid4(),
                rule_version=1,
                event_id=uuid.uuid4(),
                event_type="case.opened",
                case_id=case_id,
            )
        )
    return str(firing_id)


async def test_every_operation_asks_for_its_rights(service):
    with rights.matrix_tokens(service.settings) as tokens:
        mine = await _case(service, assignee=tokens.own_user)
        theirs = await _case(service, created_by="someone-else")
        my_firing, their_firing = await _firing(service, mine), await _firing(service, theirs)
        unknown_case_firing = await _firing(service, uuid.uuid4())
        needs = {
            ("POST", "/rules"): rights.CONFIGURE,
            ("GET", "/rules"): rights.STAFF,
            ("PUT", "/rules/{rule_id}"): rights.CONFIGURE,
            ("GET", "/rules/{rule_id}"): rights.STAFF,
            ("DELETE", "/rules/{rule_id}"): rights.CONFIGURE,
            ("POST", "/rules/{rule_id}/dry-run"): rights.CONFIGURE,
            ("GET", "/firings"): rights.Need(lists=True),
        }
        assert await rights.failures(service.client, service.app, needs, tokens) == []

        seen = await rights.listed(service.client, "/firings", tokens.own)
        assert my_firing in seen
        assert not seen & {their_firing, unknown_case_firing}
        assert my_firing not in await rights.listed(service.client, "/firings", tokens.nobody)
        everything = await rights.listed(service.client, "/firings", tokens.admin)
        assert {my_firing, their_firing, unknown_case_firing} <= everything

        # A configurer may try a rule, but not on a case it may not see.
        rule_id = str(uuid.uuid4())
        put = await service.client.put(f"/rules/{rule_id}", json=RULE, headers=tokens.configure)
        assert put.status_code == 201, put.text
        dry_run = f"/rules/{rule_id}/dry-run"
        response = await service.client.post(
            dry_run, json={"case_id": str(theirs)}, headers=tokens.configure
        )
        assert response.status_code == 403, response.text
        response = await service.client.post(
            dry_run, json={"case_id": str(theirs)}, headers=tokens.admin
        )
        assert response.status_code == 200, response.text
        deleted = await service.client.delete(f"/rules/{rule_id}", headers=tokens.configure)
        assert deleted.status_code == 204
