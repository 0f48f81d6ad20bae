"""End to end, through the public doors of the running services: a sales instance with
quotations and invoices, statuses at 10/50/90 %, opportunities in two currencies; the
pipeline's figures against the ones worked out here; a quotation of three lines with its
exact total, sent (its PDF reaches the SMTP sink, attached to the client's email), accepted
(the opportunity's amount follows) and invoiced; three invoices issued by concurrent
requests get three consecutive numbers; a payment marks one paid. (A quotation expiring on
a manual clock: services/case-svc/tests/test_case_quotations.py.)"""

from __future__ import annotations

import asyncio
import email
import email.policy
import uuid

import httpx

from casestream.testing.plugin import eventually

from .conftest import STAFF, emails_about, url

LINES = [
    {"description": "Roof survey", "quantity": 1, "unit_price": "250.00", "tax_rate": 20},
    {
        "description": "Tiles",
        "quantity": "120",
        "unit_price": "2.35",
        "discount": "5",
        "tax_rate": 20,
    },
    {"description": "Labour (hours)", "quantity": "7.5", "unit_price": "45.50", "tax_rate": 20},
]
# By hand: 250.00, tax 50.00; 120 x 2.35 = 282.00 less 5 % = 267.90, tax 53.58;
# 7.5 x 45.50 = 341.25, tax 68.25. Subtotal 859.15, tax 171.83, total 1030.98.
TOTAL = "1030.98"


async def test_a_sales_flow_from_pipeline_to_accepted_quotation(stack):
    run = uuid.uuid4().hex[:6]
    cases = url(stack, "case-svc")
    async with httpx.AsyncClient(base_url=cases, headers=STAFF, timeout=30) as api:
        stages = {f"lead_{run}": 10, f"proposal_{run}": 50, f"negotiation_{run}": 90}
        for weight, (name, probability) in enumerate(stages.items()):
            status = {"name": name, "label": name, "grouping": "opened", "weight": weight}
            response = await api.post("/case-statuses", json=status | {"probability": probability})
            assert response.status_code == 201, response.text
        instance = f"shop_{run}"
        body = {"name": instance, "label": "Shop", "singular_label": "Deal"}
        body |= {"instance_type": "sales_opportunity", "features": ["quotations", "invoices"]}
        assert (await api.post("/instances", json=body)).status_code == 201
        deal = {"title": "Deal", "instance": instance, "definition": {"statuses": list(stages)}}
        assert (await api.put(f"/case-types/deal_{run}", json=deal)).status_code == 201

        opened = {}
        for key, stage, amount, currency in (
            ("roof", f"lead_{run}", "1000.00", "EUR"),
            ("door", f"proposal_{run}", "300.00", "EUR"),
            ("boat", f"negotiation_{run}", "5000.00", "USD"),
        ):
            body = {"case_type": f"deal_{run}", "subject": f"{key} {run}", "status": stage}
            body["client"] = {"first_name": key.title(), "email": f"{key}-{run}@example.org"}
            body["opportunity"] = {"amount": amount, "currency": currency}
            response = await api.post("/cases", json=body)
            assert response.status_code == 201, response.text
            opened[key] = response.json()

        pipeline = (await api.get("/dashboard/pipeline", params={"instance": instance})).json()
        lines = {(s["status"], s["currency"]): s for s in pipeline["by_status"]}
        # 10 % of 1000.00, 50 % of 300.00, 90 % of 5000.00
        assert lines[(f"lead_{run}", "EUR")]["weighted_amount"] == "100.00"
        assert lines[(f"proposal_{run}", "EUR")]["weighted_amount"] == "150.00"
        assert lines[(f"negotiation_{run}", "USD")]["weighted_amount"] == "4500.00"
        assert {s["currency"] for s in pipeline["by_status"]} == {"EUR", "USD"}

        roof = opened["roof"]
        made = await api.post(f"/cases/{roof['id']}/quotations", json={"lines": LINES})
        assert made.status_code == 201, made.text
        quotation = made.json()
        assert (quotation["subtotal"], quotation["tax"], quotation["total"]) == (
            "859.15",
            "171.83",
            TOTAL,
        )
        sent = await api.post(f"/quotations/{quotation['id']}/send")
        assert sent.status_code == 200, sent.text

        async def quotation_emails():
            mails = await emails_about(stack, f"roof {run}")  # the acknowledgement too
            return [m for m in mails if m["subject"].startswith("Quotation")]

        [mail] = await eventually(quotation_emails, timeout_s=60)
        sink = f"http://127.0.0.1:{stack.config.smtp_http_port}"
        raw = (await api.get(f"{sink}/messages/{mail['id']}/raw")).content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert message["To"].addresses[0].addr_spec == f"roof-{run}@example.org"
        [pdf] = list(message.iter_attachments())
        assert pdf.get_content_type() == "application/pdf"
        assert pdf.get_filename() == f"{quotation['number']}.pdf"
        assert pdf.get_content().startswith(b"%PDF-")
        assert f"Total: {TOTAL} EUR" in message.get_body(("plain",)).get_content()

        accepted = await api.post(f"/quotations/{quotation['id']}/accept")
        assert accepted.status_code == 200, accepted.text
        case = (await api.get(f"/cases/{roof['id']}")).json()
        assert case["opportunity"]["amount"] == TOTAL

        invoiced = await api.post(f"/quotations/{quotation['id']}/invoice")
        assert invoiced.status_code == 201, invoiced.text
        drafts = [invoiced.json()]
        for _ in range(2):
            body = {"lines": LINES[:1]}
            drafts.append((await api.post(f"/cases/{roof['id']}/invoices", json=body)).json())
        issued = await asyncio.gather(*(api.post(f"/invoices/{d['id']}/issue") for d in drafts))
        assert all(r.status_code == 200 for r in issued), [r.text for r in issued]
        numbers = sorted(int(r.json()["number"].rsplit("-", 1)[1]) for r in issued)
        assert numbers == [numbers[0], numbers[0] + 1, numbers[0] + 2]
        first = issued[0].json()
        assert first["total"] == TOTAL
        paid = await api.post(f"/invoices/{first['id']}/payments", json={"amount": TOTAL})
        assert (paid.json()["status"], paid.json()["balance"]) == ("paid", "0.00")
