"""notify-svc's rights matrix (casestream.testing.rights_matrix): every operation of its
OpenAPI document, and emails following their case's visibility."""

from __future__ import annotations

import uuid
from typing import Any

from casestream.persistence.read_models import keep_cases
from casestream.testing import rights_matrix as rights
from casestream.testing.factories import case_state
from notify_svc.tables import cases, emails


async def _case(service: Any, **state: Any) -> uuid.UUID:
    case = case_state(**state)
    async with service.database.transaction() as tx:
        await keep_cases(tx.session, cases, [case])
    return case.id


async def _email(service: Any, case_id: uuid.UUID | None) -> str:
    """An email already settled (suppressed), so the delivery worker leaves it alone."""
    email_id, notification_id = uuid.uuid4(), uuid.uuid4()
    async with service.database.transaction() as tx:
        await tx.session.execute(
            emails.insert().values(
                id=email_id,
                notification_id=notification_id,
                case_id=case_id,
                to_spec=["clients"],
                subject="Rights",
                body_text="Rights",
                status="suppressed",
                message_id=f"<{notification_id}@matrix>",
            )
        )
    return str(email_id)


async def test_every_operation_asks_for_its_rights(service):
    with rights.matrix_tokens(service.settings) as tokens:
        mine = await _case(service, assignee=tokens.own_user)
        theirs = await _case(service, assignee="someone-else", created_by="someone-else")
        my_email, their_email = await _email(service, mine), await _email(service, theirs)
        unknown_case_email = await _email(service, uuid.uuid4())
        needs = {
            ("PUT", "/templates/{name}"): rights.CONFIGURE,
            ("GET", "/templates"): rights.STAFF,
            ("GET", "/templates/{name}"): rights.STAFF,
            ("POST", "/templates/{name}/preview"): rights.Need(
                outside=rights.Call(json={"case_id": str(theirs)})
            ),
            ("POST", "/emails"): rights.Need(
                outside=rights.Call(json={"case_id": str(theirs), "subject": "x", "body_text": "x"})
            ),
            ("GET", "/emails"): rights.Need(lists=True),
            ("GET", "/emails/{email_id}"): rights.Need(
                outside=rights.Call(path={"email_id": their_email}),
                inside=rights.Call(path={"email_id": my_email}),
            ),
        }
        assert await rights.failures(service.client, service.app, needs, tokens) == []

        # Lists filter in SQL: the own token's page holds its case's emails only.
        seen = await rights.listed(service.client, "/emails", tokens.own)
        assert my_email in seen
        assert not seen & {their_email, unknown_case_email}
        assert await rights.listed(service.client, "/emails", tokens.nobody) & {my_email} == set()
        everything = await rights.listed(service.client, "/emails", tokens.admin)
        assert {my_email, their_email, unknown_case_email} <= everything
        # An email on a case not known here yet: admins only.
        response = await service.client.get(f"/emails/{unknown_case_email}", headers=tokens.own)
        assert response.status_code == 403
        # Sending on one's own case is allowed (202), on an unknown case only for admins.
        body = {"case_id": str(mine), "subject": "Hello", "body_text": "Hi", "to": ["a@b.org"]}
        assert (
            await service.client.post("/emails", json=body, headers=tokens.own)
        ).status_code == 202
        unknown = {**body, "case_id": str(uuid.uuid4())}
        response = await service.client.post("/emails", json=unknown, headers=tokens.own)
        assert response.status_code == 403
