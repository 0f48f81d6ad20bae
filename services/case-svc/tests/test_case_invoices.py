"""Invoices on a sales case, through case-svc's HTTP API and its events, on a manual clock:
from an accepted quotation or written directly; numbers taken at issue, consecutive under
concurrent requests; partial payments, a retried one recorded once, the one that settles
it; cancelling with a credit note; overdue ones on the pipeline; the invoices right."""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import timedelta

from casestream import topics

from .test_case_quotations import LINES, SELLER, TOTAL, a_deal, act, page_text, quote, shop

__all__ = ["shop"]  # the fixture: this module's own service

LINE = [{"description": "Hours", "quantity": 4, "unit_price": "50.00", "tax_rate": 10}]


async def draft(shop, case, lines=LINE):
    response = await shop.client.post(f"/cases/{case['id']}/invoices", json={"lines": lines})
    assert response.status_code == 201, response.text
    return response.json()


async def issue(shop, invoice, expect=200, **body):
    response = await shop.client.post(f"/invoices/{invoice['id']}/issue", json=body or None)
    assert response.status_code == expect, response.text
    return response.json()


async def pay(shop, invoice, amount, expect=200, **extra):
    body = {"amount": amount} | extra
    response = await shop.client.post(f"/invoices/{invoice['id']}/payments", json=body)
    assert response.status_code == expect, response.text
    return response.json()


def serial(number: str) -> int:
    return int(number.rsplit("-", 1)[1])


async def test_an_accepted_quotation_becomes_an_invoice_issued_with_its_pdf(shop):
    case = await a_deal(shop)
    quotation = await act(shop, await act(shop, await quote(shop, case), "send"), "accept")
    made = await shop.client.post(f"/quotations/{quotation['id']}/invoice")
    assert made.status_code == 201, made.text
    invoice = made.json()
    assert (invoice["status"], invoice["number"], invoice["total"]) == ("draft", None, TOTAL)
    assert invoice["quotation_id"] == quotation["id"]
    again = await shop.client.post(f"/quotations/{quotation['id']}/invoice")
    assert again.status_code == 409  # one invoice per quotation

    issued = await issue(shop, invoice)

    today = shop.clock.now().date()
    assert issued["status"] == "issued" and issued["number"].startswith(f"INV-{today.year}-")
    assert (issued["issued_on"], issued["due_date"]) == (str(today), str(today + timedelta(30)))
    letters = await shop.said(topics.NOTIFY_COMMANDS, case["id"], expected=2)
    [letter] = [m for m in letters if m["data"].get("invoice")]
    assert letter["data"]["invoice"]["number"] == issued["number"]
    [pdf] = letter["data"]["attachments"]
    assert pdf["filename"] == f"{issued['number']}.pdf"
    assert TOTAL.encode() in page_text(base64.b64decode(pdf["content_base64"]))
    said = await shop.said(topics.SALES_EVENTS, case["id"], expected=5)
    assert [m["type"] for m in said][-2:] == ["invoice.created", "invoice.issued"]
    assert said[-1]["data"]["changes"]["number"] == {"before": None, "after": issued["number"]}


async def test_three_invoices_issued_at_once_get_three_consecutive_numbers(shop):
    case = await a_deal(shop)
    drafts = [await draft(shop, case) for _ in range(3)]
    assert all(d["number"] is None for d in drafts)  # a draft takes no number

    issued = await asyncio.gather(*(issue(shop, d) for d in drafts))

    numbers = sorted(serial(i["number"]) for i in issued)
    assert numbers == list(range(numbers[0], numbers[0] + 3))


async def test_payments_partial_retried_and_settling(shop):
    case = await a_deal(shop)
    invoice = await issue(shop, await draft(shop, case))  # 4 x 50.00 + 10 %: 220.00
    assert invoice["total"] == "220.00"
    payment = str(uuid.uuid4())

    part = await pay(shop, invoice, "100.00", id=payment, reference="bank 1")
    again = await pay(shop, invoice, "100.00", id=payment, reference="bank 1")  # a retry
    too_much = await shop.client.post(
        f"/invoices/{invoice['id']}/payments", json={"amount": "120.01"}
    )
    rest = await pay(shop, invoice, "120.00")

    assert (part["status"], part["paid"], part["balance"]) == ("issued", "100.00", "120.00")
    assert again == part
    assert too_much.status_code == 422 and too_much.json()["detail"][0]["loc"][-1] == "amount"
    assert (rest["status"], rest["paid"], rest["balance"]) == ("paid", "220.00", "0.00")
    assert [p["amount"] for p in rest["payments"]] == ["100.00", "120.00"]
    await pay(shop, rest, "1.00", expect=409)
    said = await shop.said(topics.SALES_EVENTS, case["id"], expected=4)
    assert [m["type"] for m in said][-2:] == ["invoice.payment_recorded", "invoice.paid"]


async def test_a_cancelled_invoice_keeps_its_number_and_gets_a_credit_note(shop):
    case = await a_deal(shop)
    invoice = await issue(shop, await draft(shop, case))
    cancelled = await shop.client.post(f"/invoices/{invoice['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert (body["status"], body["number"]) == ("cancelled", invoice["number"])
    assert body["credit_note_number"].startswith("CN-")
    paid_part = await issue(shop, await draft(shop, case))
    await pay(shop, paid_part, "1.00")
    refused = await shop.client.post(f"/invoices/{paid_part['id']}/cancel")
    assert refused.status_code == 409
    draft_only = await draft(shop, case)
    dropped = (await shop.client.post(f"/invoices/{draft_only['id']}/cancel")).json()
    assert (dropped["status"], dropped["number"], dropped["credit_note_number"]) == (
        "cancelled",
        None,
        None,
    )


async def test_overdue_invoices_are_counted_on_the_pipeline(shop):
    case = await a_deal(shop)

    async def overdue():
        pipeline = await shop.client.get("/dashboard/pipeline", params={"instance": "shop"})
        return {o["currency"]: o for o in pipeline.json()["overdue_invoices"]}

    before = (await overdue()).get("EUR", {"count": 0, "amount_due": "0.00"})
    late = await issue(shop, await draft(shop, case), due_date=str(shop.clock.now().date()))
    await pay(shop, late, "20.00")
    shop.clock.advance(timedelta(days=1))

    after = (await overdue())["EUR"]
    assert after["count"] == before["count"] + 1
    due = float(after["amount_due"]) - float(before["amount_due"])
    assert round(due, 2) == 200.00  # 220.00 less the 20.00 paid
    listed = await shop.client.get("/invoices", params={"overdue": "true", "case_id": case["id"]})
    assert [i["id"] for i in listed.json()["items"]] == [late["id"]]


async def test_issuing_and_cancelling_need_the_invoices_right(shop):
    case = await a_deal(shop, headers=SELLER)  # the seller's own case
    invoice = (
        await shop.client.post(
            f"/cases/{case['id']}/invoices", json={"lines": LINE}, headers=SELLER
        )
    ).json()
    for action in ("issue", "cancel"):
        response = await shop.client.post(f"/invoices/{invoice['id']}/{action}", headers=SELLER)
        assert response.status_code == 403, response.text
    seen = await shop.client.get(f"/invoices/{invoice['id']}", headers=SELLER)
    assert seen.status_code == 200  # the case's rights: the seller sees its invoice


async def test_an_instance_without_invoices_refuses_them(shop):
    case = await a_deal(shop, instance="bare")
    response = await shop.client.post(f"/cases/{case['id']}/invoices", json={"lines": LINES})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "case_id"
