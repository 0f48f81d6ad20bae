"""case-svc's rights matrix (casestream.testing.rights_matrix): every operation of its
OpenAPI document. Configuration needs ``configure``; a case outside the token's rights
answers 403, in lists it is left out."""

from __future__ import annotations

import uuid
from typing import Any

from casestream.testing import rights_matrix as rights


async def _open(service: Any, subject: str, headers: dict[str, str] | None = None) -> str:
    body = {
        "case_type": "general_enquiry",
        "subject": subject,
        "client": {"first_name": "Ada", "email": f"{uuid.uuid4().hex[:8]}@example.org"},
    }
    response = await service.client.post("/cases", json=body, headers=headers or {})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _on(case_id: str, body: Any = None) -> rights.Need:
    """An action on a case: 403 for the own token on another's case (with a valid body, so
    that it is the rights that answer)."""
    return rights.Need(outside=rights.Call(path={"case_id": case_id}, json=body))


async def _documents_on_a_deal(service: Any, headers: dict[str, str] | None = None) -> Any:
    """A sales instance of its own, with quotations and invoices; a deal there and a
    quotation and an invoice on it: their ids."""
    name = f"shop_{uuid.uuid4().hex[:8]}"
    instance = {"name": name, "label": name, "singular_label": name}
    instance |= {"instance_type": "sales_opportunity", "features": ["quotations", "invoices"]}
    assert (await service.client.post("/instances", json=instance)).status_code == 201
    deal = {"title": "Deal", "instance": name, "definition": {"statuses": ["open", "resolved"]}}
    assert (await service.client.put(f"/case-types/{name}", json=deal)).status_code == 201
    body = {"case_type": name, "subject": "deal", "client": {"first_name": "Ada"}}
    body["opportunity"] = {"amount": "1.00", "currency": "EUR"}
    case = await service.client.post("/cases", json=body, headers=headers or {})
    assert case.status_code == 201, case.text
    made = []
    for kind in ("quotations", "invoices"):
        response = await service.client.post(f"/cases/{case.json()['id']}/{kind}", json=LINES)
        assert response.status_code == 201, response.text
        made.append(str(response.json()["id"]))
    return made


LINES = {"lines": [{"description": "x", "quantity": 1, "unit_price": 1}]}


def _on_quotation(quotation_id: str, body: Any = None) -> rights.Need:
    return rights.Need(outside=rights.Call(path={"quotation_id": quotation_id}, json=body))


def _on_invoice(invoice_id: str, body: Any = None) -> rights.Need:
    return rights.Need(outside=rights.Call(path={"invoice_id": invoice_id}, json=body))


async def test_every_operation_asks_for_its_rights(service):
    with rights.matrix_tokens(service.settings) as tokens:
        mine = await _open(service, "the own token's", tokens.own)
        theirs = await _open(service, "someone else's")
        their_quotation, their_invoice = await _documents_on_a_deal(service)
        my_quotation, my_invoice = await _documents_on_a_deal(service, tokens.own)
        contact = str(uuid.uuid4())
        needs = {
            ("POST", "/instances"): rights.CONFIGURE,
            ("GET", "/instances"): rights.STAFF,
            ("GET", "/instances/{name}"): rights.STAFF,
            ("PATCH", "/instances/{name}"): rights.CONFIGURE,
            ("POST", "/case-statuses"): rights.CONFIGURE,
            ("GET", "/case-statuses"): rights.STAFF,
            ("PUT", "/case-types/{name}"): rights.CONFIGURE,
            ("GET", "/case-types"): rights.STAFF,
            ("GET", "/case-types/{name}"): rights.STAFF,
            ("POST", "/contacts"): rights.STAFF,
            ("GET", "/contacts"): rights.STAFF,
            ("GET", "/contacts/{contact_id}"): rights.STAFF,
            ("PATCH", "/contacts/{contact_id}"): rights.STAFF,
            ("POST", "/contacts/{contact_id}/merge"): rights.Need(right="delete_cases"),
            ("GET", "/cases"): rights.Need(lists=True),
            ("POST", "/cases"): rights.Need(right="add_cases"),
            ("GET", "/dashboard/summary"): rights.STAFF,
            # Over what the token may see (test_case_pipeline: own cases only).
            ("GET", "/dashboard/pipeline"): rights.STAFF,
            ("GET", "/cases/{case_id}"): rights.Need(
                outside=rights.Call(path={"case_id": theirs}),
                inside=rights.Call(path={"case_id": mine}),
            ),
            ("PATCH", "/cases/{case_id}"): _on(theirs, {"subject": "x"}),
            ("GET", "/cases/{case_id}/history"): rights.Need(
                outside=rights.Call(path={"case_id": theirs}),
                inside=rights.Call(path={"case_id": mine}),
            ),
            ("POST", "/cases/{case_id}/take"): _on(theirs),
            ("POST", "/cases/{case_id}/requeue"): _on(theirs),
            ("POST", "/cases/{case_id}/assign"): _on(theirs, {"user": tokens.own_user}),
            ("POST", "/cases/{case_id}/status"): _on(theirs, {"status": "resolved"}),
            ("POST", "/cases/{case_id}/transfer"): _on(theirs, {"case_type": "general_enquiry"}),
            ("POST", "/cases/{case_id}/close"): _on(theirs, {"status": "resolved"}),
            ("POST", "/cases/{case_id}/reopen"): _on(theirs),
            ("POST", "/cases/{case_id}/roles"): _on(
                theirs, {"role": "case_coordinator", "contact_id": contact}
            ),
            ("POST", "/cases/{case_id}/roles/{role_id}/end"): _on(theirs),
            ("POST", "/cases/{case_id}/tags"): _on(theirs, {"add": ["x"]}),
            ("POST", "/cases/{case_id}/links"): _on(theirs, {"case_id": mine}),
            ("POST", "/cases/{case_id}/merge"): rights.Need(right="delete_cases"),
            ("POST", "/cases/{case_id}/quotations"): _on(theirs, LINES),
            ("GET", "/quotations"): rights.Need(lists=True),
            ("GET", "/quotations/{quotation_id}"): _on_quotation(their_quotation),
            ("PATCH", "/quotations/{quotation_id}"): _on_quotation(their_quotation, {}),
            ("POST", "/quotations/{quotation_id}/send"): _on_quotation(their_quotation),
            ("POST", "/quotations/{quotation_id}/accept"): _on_quotation(their_quotation),
            ("POST", "/quotations/{quotation_id}/decline"): _on_quotation(their_quotation),
            ("POST", "/quotations/{quotation_id}/invoice"): _on_quotation(their_quotation),
            ("POST", "/cases/{case_id}/invoices"): _on(theirs, LINES),
            ("GET", "/invoices"): rights.Need(lists=True),
            ("GET", "/invoices/{invoice_id}"): _on_invoice(their_invoice),
            ("PATCH", "/invoices/{invoice_id}"): _on_invoice(their_invoice, {}),
            ("POST", "/invoices/{invoice_id}/payments"): _on_invoice(
                their_invoice, {"amount": "1.00"}
            ),
            # Their own right first (403 for any token without it), then the case's.
            ("POST", "/invoices/{invoice_id}/issue"): rights.Need(right="invoices"),
            ("POST", "/invoices/{invoice_id}/cancel"): rights.Need(right="invoices"),
        }
        assert await rights.failures(service.client, service.app, needs, tokens) == []

        seen = await rights.listed(service.client, "/cases", tokens.own)
        assert len(seen) == 2 and mine in seen  # and the own token's deal
        quotations = await rights.listed(service.client, "/quotations", tokens.own)
        assert quotations == {my_quotation}
        assert await rights.listed(service.client, "/invoices", tokens.own) == {my_invoice}
        assert their_quotation not in await rights.listed(
            service.client, "/quotations", tokens.nobody
        )
        assert theirs not in await rights.listed(service.client, "/cases", tokens.nobody)
        assert {mine, theirs} <= await rights.listed(service.client, "/cases", tokens.admin)
        # Nothing the matrix sent changed someone else's case.
        case = (await service.client.get(f"/cases/{theirs}")).json()
        assert (case["version"], case["assignee"], case["status"]) == (1, None, "open")
