"""Quotations on a sales case, through case-svc's HTTP API and its events, on a manual
clock: exact line totals (figures worked out by hand with the stated rule: each line
rounded to cents, half up), numbers per instance, the states and what each allows,
acceptance setting the opportunity's amount, expiry when the validity date passes, and the
case's rights."""

from __future__ import annotations

import base64
import re
import zlib
from datetime import UTC, datetime, timedelta

import pytest

from case_svc.main import create_app
from casestream import topics
from casestream.clock import ManualClock
from casestream.settings import StaffToken
from casestream.testing.plugin import eventually

from .conftest import AS, case_service

STATUSES = [("lead", "opened", 10), ("won", "closed", 100), ("lost", "closed", 0)]
TOKENS = {"seller-token": StaffToken(user="seller", rights=["cases:shop:own", "add_cases"])}
SELLER = {"Authorization": "Bearer seller-token"}

# Worked out by hand:
#   3 x 333.33 = 999.99, less 10 % = 899.991 -> 899.99; 20 % tax = 179.998 -> 180.00
#   1.5 x 19.99 = 29.985 -> 29.99 (half up); 7 % tax = 2.0993 -> 2.10
#   2 x 49.95 = 99.90, less 33.33 % = 66.60333 -> 66.60; no tax
LINES = [
    {
        "description": "Consulting",
        "quantity": 3,
        "unit_price": "333.33",
        "discount": 10,
        "tax_rate": 20,
    },
    {"description": "Licence", "quantity": "1.5", "unit_price": "19.99", "tax_rate": "7"},
    {"description": "Support", "quantity": 2, "unit_price": 49.95, "discount": "33.33"},
]
LINE_TOTALS = [
    ("899.99", "180.00", "1079.99"),
    ("29.99", "2.10", "32.09"),
    ("66.60", "0.00", "66.60"),
]
SUBTOTAL, TAX, TOTAL = "996.58", "182.10", "1178.68"


def page_text(pdf: bytes) -> bytes:
    """The PDF's page content, inflated (fpdf2 compresses its streams)."""
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S)
    return b"".join(zlib.decompress(stream) for stream in streams if stream[:1] == b"x")


def on_a_manual_clock(settings):
    return create_app(settings, clock=ManualClock(datetime.now(UTC)))


@pytest.fixture(scope="module")
async def shop(create_database, kafka_bootstrap):
    async with case_service(
        create_database, kafka_bootstrap, demo=False, tokens=TOKENS, app=on_a_manual_clock
    ) as service:
        api = service.client
        for name, grouping, probability in STATUSES:
            body = {"name": name, "label": name, "grouping": grouping, "probability": probability}
            assert (await api.post("/case-statuses", json=body)).status_code == 201
        for name, features in (("shop", ["quotations", "invoices"]), ("bare", [])):
            body = {
                "name": name,
                "label": name,
                "singular_label": name,
                "instance_type": "sales_opportunity",
                "features": features,
            }
            assert (await api.post("/instances", json=body)).status_code == 201, name
            deal = {
                "title": "Deal",
                "instance": name,
                "definition": {"statuses": ["lead", "won", "lost"]},
            }
            assert (await api.put(f"/case-types/{name}_deal", json=deal)).status_code == 201
        service.clock = service.app.state.runtime.clock
        yield service


async def a_deal(shop, instance="shop", headers=None):
    body = {
        "case_type": f"{instance}_deal",
        "subject": "A deal",
        "client": {"first_name": "Client", "email": "client@example.org"},
        "opportunity": {"amount": "100.00", "currency": "EUR"},
    }
    response = await shop.client.post("/cases", json=body, headers=headers or {})
    assert response.status_code == 201, response.text
    return response.json()


async def quote(shop, case, **extra):
    body = {"lines": LINES} | extra
    response = await shop.client.post(f"/cases/{case['id']}/quotations", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def act(shop, quotation, action, expect=200, headers=None):
    response = await shop.client.post(
        f"/quotations/{quotation['id']}/{action}", headers=headers or {}
    )
    assert response.status_code == expect, response.text
    return response.json()


async def test_three_lines_give_the_exact_total_and_acceptance_sets_the_amount(shop):
    case = await a_deal(shop)
    quotation = await quote(shop, case)

    assert [(line["net"], line["tax"], line["total"]) for line in quotation["lines"]] == LINE_TOTALS
    assert (quotation["subtotal"], quotation["tax"], quotation["total"]) == (SUBTOTAL, TAX, TOTAL)
    assert (quotation["status"], quotation["currency"]) == ("draft", "EUR")
    today = shop.clock.now().date()
    assert quotation["valid_until"] == str(today + timedelta(days=30))
    assert quotation["number"].startswith(f"Q-{today.year}-")

    sent = await act(shop, quotation, "send")
    accepted = await act(shop, sent, "accept")

    assert (sent["status"], accepted["status"]) == ("sent", "accepted")
    opportunity = (await shop.client.get(f"/cases/{case['id']}")).json()["opportunity"]
    assert (opportunity["amount"], opportunity["currency"]) == (TOTAL, "EUR")
    [letter] = await shop.said(topics.NOTIFY_COMMANDS, case["id"], expected=1)
    assert letter["data"]["quotation"]["number"] == quotation["number"]
    assert letter["data"]["to"] == ["clients"] and "quotation.number" in letter["data"]["subject"]
    [pdf] = letter["data"]["attachments"]
    assert (pdf["filename"], pdf["content_type"]) == (
        f"{quotation['number']}.pdf",
        "application/pdf",
    )
    document = base64.b64decode(pdf["content_base64"])
    assert document.startswith(b"%PDF-") and TOTAL.encode() in page_text(document)
    said = await shop.said(topics.SALES_EVENTS, case["id"], expected=3)
    assert [m["type"] for m in said] == [
        "quotation.created",
        "quotation.sent",
        "quotation.accepted",
    ]
    assert said[-1]["data"]["quotation"]["total"] == TOTAL
    assert said[-1]["data"]["changes"]["status"] == {"before": "sent", "after": "accepted"}
    # opened, updated (the amount); the assignment by creation makes no event of its own
    case_events = await shop.said(topics.CASE_EVENTS, case["id"], expected=2)
    [updated] = [m for m in case_events if m["type"] == "case.updated"]
    assert updated["data"]["changes"]["opportunity"]["after"]["amount"] == TOTAL


async def test_numbers_follow_each_other_per_instance(shop):
    case = await a_deal(shop)
    first, second = await quote(shop, case), await quote(shop, case)
    a, b = (int(q["number"].rsplit("-", 1)[1]) for q in (first, second))
    assert b == a + 1


async def test_each_state_allows_only_its_next_steps(shop):
    case = await a_deal(shop)
    quotation = await quote(shop, case)
    await act(shop, quotation, "accept", expect=409)  # a draft is not accepted
    edited = await shop.client.patch(
        f"/quotations/{quotation['id']}", json={"lines": LINES[:1], "notes": "One line"}
    )
    assert edited.status_code == 200, edited.text
    assert (edited.json()["total"], edited.json()["version"]) == ("1079.99", 2)
    stale = await shop.client.post(f"/quotations/{quotation['id']}/send", headers={"If-Match": "1"})
    assert stale.status_code == 409
    sent = await act(shop, quotation, "send")
    await act(shop, sent, "send", expect=409)
    late_edit = await shop.client.patch(f"/quotations/{quotation['id']}", json={"notes": "x"})
    assert late_edit.status_code == 409
    declined = await act(shop, sent, "decline")
    assert declined["status"] == "declined"
    await act(shop, declined, "accept", expect=409)


async def test_a_quotation_left_alone_expires_when_its_date_passes(shop):
    case = await a_deal(shop)
    today = shop.clock.now().date()
    quotation = await quote(shop, case, valid_until=str(today + timedelta(days=1)))
    await act(shop, quotation, "send")

    shop.clock.advance(timedelta(days=1))  # its last valid day
    assert (await shop.app.state.expiry.expire_due()) == 0
    shop.clock.advance(timedelta(days=1))

    async def expired():
        found = (await shop.client.get(f"/quotations/{quotation['id']}")).json()
        return found if found["status"] == "expired" else None

    found = await eventually(expired)
    assert found["decided_at"] is not None
    said = await shop.said(topics.SALES_EVENTS, case["id"], expected=3)
    assert said[-1]["type"] == "quotation.expired"
    await act(shop, found, "accept", expect=409)


async def test_quotations_follow_the_cases_rights(shop):
    theirs = await a_deal(shop)
    mine = await a_deal(shop, headers=SELLER)
    hidden, shown = await quote(shop, theirs), await quote(shop, mine)

    refused = await shop.client.get(f"/quotations/{hidden['id']}", headers=SELLER)
    assert refused.status_code == 403
    await act(shop, hidden, "send", expect=403, headers=SELLER)
    listed = (await shop.client.get("/quotations", headers=SELLER)).json()["items"]
    assert [q["id"] for q in listed] == [shown["id"]]
    assert (
        await shop.client.get(f"/quotations/{hidden['id']}", headers=AS["nobody"])
    ).status_code == 403


async def test_an_instance_without_the_feature_refuses_them(shop):
    case = await a_deal(shop, instance="bare")
    response = await shop.client.post(f"/cases/{case['id']}/quotations", json={"lines": LINES})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "case_id"


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({"quantity": 0}, "quantity"),
        ({"unit_price": "1.005"}, "unit_price"),
        ({"discount": 101}, "discount"),
        ({"tax_rate": "-1"}, "tax_rate"),
        ({"description": ""}, "description"),
    ],
)
async def test_bad_lines_name_their_field(shop, line, field):
    case = await a_deal(shop)
    body = {"lines": [LINES[0] | line]}
    response = await shop.client.post(f"/cases/{case['id']}/quotations", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][-1] == field
