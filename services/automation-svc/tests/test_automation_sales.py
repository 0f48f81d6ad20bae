"""Rules on quotation and invoice events (sales.events): "three days before a quotation
expires, email the owner"; "when an invoice is 14 days overdue, add a tag"; their tokens
in the email; an event that came before its case waits for it."""

from __future__ import annotations

import uuid
from datetime import timedelta

from casestream import topics
from casestream.contracts.sales import (
    INVOICE_ISSUED,
    QUOTATION_ACCEPTED,
    QUOTATION_SENT,
    DocumentLine,
    InvoiceState,
    SalesEvent,
)
from casestream.envelope import new_envelope
from casestream.testing.factories import case_state, quotation_state
from casestream.testing.plugin import eventually
from casestream.testing.services import STAFF_HEADERS

LINE = DocumentLine(
    description="Roof", quantity="1", unit_price="100.00", net="100.00", tax="0.00", total="100.00"
)


def sales_event(event_type: str, **document):
    document = {k: v for k, v in document.items() if v is not None}
    return new_envelope(
        type=event_type,
        source="case-svc",
        subject=str(next(iter(document.values())).case_id),
        data=SalesEvent(**document),
    )


async def _action(service, case_id, state):
    async def reached():
        found = [a for a in await service.actions_of(case_id) if a["state"] == state]
        return found[0] if found else None

    return await eventually(reached)


async def test_three_days_before_a_quotation_expires_the_owner_is_emailed(service):
    marker = f"quote-{uuid.uuid4()}"
    await service.put_rule(
        {
            "name": "quotation expiring",
            "trigger": {"event": QUOTATION_SENT},
            "conditions": [
                {"field": "case.subject", "op": "eq", "value": marker},
                {"field": "quotation.total", "op": "eq", "value": "100.00"},
            ],
            "actions": [
                {
                    "type": "send_email",
                    "to": ["assignee"],
                    "subject": "{{ quotation.number }} expires on {{ quotation.valid_until }}",
                    "body_text": "{{ quotation.total }} {{ quotation.currency }}",
                    "at": {"field": "quotation.valid_until", "offset": "-P3D"},
                }
            ],
        }
    )
    case = case_state(subject=marker, assignee="seller")
    sent = quotation_state(case.id, at=service.clock.now(), valid_for_days=10)
    # The quotation's event before its case's: it waits for the case.
    await service.deliver_event(sales_event(QUOTATION_SENT, quotation=sent))
    await service.deliver_event(service.case_event(case))

    pending = await _action(service, case.id, "pending")
    assert pending["due_at"].startswith(str(sent.valid_until - timedelta(days=3)))
    service.clock.advance(timedelta(days=8))

    [email] = await service.said(topics.NOTIFY_COMMANDS, str(case.id), expected=1)
    assert email["data"]["to"] == ["assignee"]
    assert email["data"]["quotation"]["number"] == "Q-2026-0007"
    assert "{{ quotation.number }}" in email["data"]["subject"]


async def test_a_reminder_for_a_quotation_accepted_meanwhile_is_cancelled(service):
    marker = f"accepted-{uuid.uuid4()}"
    await service.put_rule(
        {
            "name": "quotation expiring, unless decided",
            "trigger": {"event": QUOTATION_SENT},
            "conditions": [{"field": "case.subject", "op": "eq", "value": marker}],
            "actions": [
                {
                    "type": "send_email",
                    "to": ["assignee"],
                    "subject": "{{ quotation.number }} expires soon",
                    "body_text": "-",
                    "at": {"field": "quotation.valid_until", "offset": "-P3D"},
                }
            ],
            "cancel_if": [{"field": "quotation.status", "op": "ne", "value": "sent"}],
        }
    )
    noted = await service.put_rule(
        {
            "name": "note the acceptance",
            "trigger": {"event": QUOTATION_ACCEPTED},
            "conditions": [{"field": "case.subject", "op": "eq", "value": marker}],
            "actions": [{"type": "add_tag", "tags": ["accepted"]}],
        }
    )
    case = case_state(subject=marker, assignee="seller")
    await service.deliver_event(service.case_event(case))
    sent = quotation_state(case.id, at=service.clock.now(), valid_for_days=10)
    await service.deliver_event(sales_event(QUOTATION_SENT, quotation=sent))
    await _action(service, case.id, "pending")
    accepted = sent.model_copy(update={"status": "accepted", "version": 3})
    await service.deliver_event(sales_event(QUOTATION_ACCEPTED, quotation=accepted))
    await eventually(lambda: service.firings(rule_id=noted))  # the acceptance is known
    service.clock.advance(timedelta(days=8))

    cancelled = await _action(service, case.id, "cancelled")
    assert "quotation.status" in cancelled["error"]
    emails = await service.said_so_far(topics.NOTIFY_COMMANDS, str(case.id))
    assert emails == []


async def test_an_invoice_14_days_overdue_is_tagged(service):
    marker = f"invoice-{uuid.uuid4()}"
    await service.put_rule(
        {
            "name": "overdue invoice",
            "trigger": {"event": INVOICE_ISSUED},
            "conditions": [{"field": "case.subject", "op": "eq", "value": marker}],
            "actions": [
                {
                    "type": "add_tag",
                    "tags": ["invoice-overdue"],
                    "at": {"field": "invoice.due_date", "offset": "P14D"},
                }
            ],
        }
    )
    case = case_state(subject=marker)
    await service.deliver_event(service.case_event(case))
    now = service.clock.now()
    issued = InvoiceState(
        id=uuid.uuid4(),
        case_id=case.id,
        instance="cases",
        number="INV-2026-0003",
        status="issued",
        currency="EUR",
        lines=[LINE],
        subtotal="100.00",
        tax="0.00",
        total="100.00",
        paid="0.00",
        balance="100.00",
        issued_on=now.date(),
        due_date=(now + timedelta(days=30)).date(),
        created_at=now,
        updated_at=now,
        version=2,
    )
    await service.deliver_event(sales_event(INVOICE_ISSUED, invoice=issued))

    pending = await _action(service, case.id, "pending")
    assert pending["due_at"].startswith(str(issued.due_date + timedelta(days=14)))
    service.clock.advance(timedelta(days=45))
    [command] = await service.said(topics.CASE_COMMANDS, str(case.id), expected=1)
    assert command["data"]["tags"] == ["invoice-overdue"]


async def test_a_rule_on_a_field_quotations_lack_is_refused(service):
    response = await service.client.put(
        f"/rules/{uuid.uuid4()}",
        json={
            "name": "bad",
            "trigger": {"event": QUOTATION_SENT},
            "conditions": [{"field": "quotation.colour", "op": "eq", "value": "red"}],
            "actions": [{"type": "add_tag", "tags": ["x"]}],
        },
        headers=STAFF_HEADERS,
    )
    assert response.status_code == 422, response.text
    assert "quotation has" in response.text
