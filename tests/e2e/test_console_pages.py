"""End to end, through the console as a browser would use it (over HTTP, signed in as a demo
user): a contact's record with their open and closed cases and their cases' activities; my
work (my overdue activities first, no one else's); the sales pipeline per status and
currency with its SVG chart (and a 404 for an instance that sells nothing); the
configuration pages (forms with their public links, rules with a dry run, templates with a
preview) and what a caseworker without ``configure`` is shown and refused. Data is set up
through the services' APIs with the admin token and checked against what they answer."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from html.parser import HTMLParser

import httpx

from casestream.testing.plugin import eventually

from .conftest import STAFF, url
from .console import form_token, signed_in


class _Tables(HTMLParser):
    """Each table of a page by its caption: its body's rows, each a list of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._caption: str | None = None
        self._rows: list[list[str]] | None = None
        self._cell: list[str] | None = None
        self._in_caption = False
        self._in_head = False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._caption, self._rows = "", []
        elif tag == "caption":
            self._in_caption = True
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr" and self._rows is not None and not self._in_head:
            self._rows.append([])
        elif tag in ("td", "th") and self._rows is not None and not self._in_head:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "caption":
            self._in_caption = False
        elif tag == "thead":
            self._in_head = False
        elif tag in ("td", "th") and self._cell is not None and self._rows:
            self._rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table" and self._rows is not None:
            self.tables[" ".join((self._caption or "").split())] = self._rows
            self._rows = None

    def handle_data(self, data):
        if self._in_caption:
            self._caption = (self._caption or "") + data
        elif self._cell is not None:
            self._cell.append(data)


def tables(html: str) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def column(rows: list[list[str]], index: int) -> list[str]:
    return [row[index] for row in rows if len(row) > index]


def cases_api(stack) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url(stack, "case-svc"), headers=STAFF, timeout=30)


async def open_case(api: httpx.AsyncClient, subject: str, **body) -> dict:
    """A general enquiry (a new client of its own unless ``client`` or ``client_ids``)."""
    if "client_ids" not in body:
        body.setdefault("client", {"first_name": "Client", "email": f"{uuid.uuid4().hex}@e.org"})
    answer = await api.post(
        "/cases", json={"case_type": "general_enquiry", "subject": subject} | body
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


async def schedule(stack, **activity) -> dict:
    """An activity, once activity-svc knows its case (it learns of cases from case-svc's
    events, so the first tries may be turned away)."""
    async with httpx.AsyncClient(base_url=url(stack, "activity-svc"), headers=STAFF) as api:

        async def made():
            answer = await api.post("/activities", json=activity)
            return answer.json() if answer.status_code == 201 else None

        return await eventually(made, timeout_s=30, interval_s=0.3)


async def test_a_contacts_record_lists_their_open_and_closed_cases_and_activities(stack):
    run = uuid.uuid4().hex[:8]
    async with cases_api(stack) as api:
        made = await api.post(
            "/contacts",
            json={"first_name": "Rita", "last_name": f"Record{run}", "email": f"r-{run}@e.org"},
        )
        assert made.status_code == 201, made.text
        contact = made.json()
        kept_open = await open_case(api, f"open one {run}", client_ids=[contact["id"]])
        to_close = await open_case(api, f"closed one {run}", client_ids=[contact["id"]])
        closed = await api.post(
            f"/cases/{to_close['id']}/close",
            json={"status": "resolved"},
            headers={"If-Match": str(to_close["version"])},
        )
        assert closed.status_code == 200, closed.text
        someone_elses = await open_case(
            api, f"not theirs {run}", client={"first_name": "Other", "email": f"o-{run}@e.org"}
        )
    call = await schedule(
        stack, case_id=kept_open["id"], type="follow_up_call", subject=f"Call about {run}"
    )

    async with signed_in(stack, "casey") as console:
        page = await console.get(f"/contacts/{contact['id']}")
        assert page.status_code == 200, page.text
        found = tables(page.text)
        open_rows = next(rows for caption, rows in found.items() if caption.startswith("Open"))
        closed_rows = next(rows for caption, rows in found.items() if caption.startswith("Closed"))
        assert column(open_rows, 0) == [kept_open["subject"]]
        assert column(closed_rows, 0) == [to_close["subject"]]
        assert someone_elses["subject"] not in page.text
        assert f'href="/cases/{kept_open["id"]}"' in page.text
        assert f'href="/cases/{to_close["id"]}"' in page.text
        assert f"Record{run}" in page.text and f"r-{run}@e.org" in page.text

        [history] = [rows for caption, rows in found.items() if caption.startswith("Activities")]
        [ours] = [row for row in history if call["subject"] in row[1]]
        assert ours[3] == kept_open["subject"]  # the case it belongs to

        unknown = await console.get(f"/contacts/{uuid.uuid4()}")
        assert unknown.status_code == 404


async def test_my_work_lists_my_overdue_activities_first_and_not_another_users(stack):
    run = uuid.uuid4().hex[:8]
    async with cases_api(stack) as api:
        case = await open_case(api, f"work {run}")
    now = datetime.now(UTC)
    late = (now - timedelta(hours=3)).isoformat()
    later = (now + timedelta(days=2)).isoformat()
    activity = {"case_id": case["id"], "type": "follow_up_call"}
    mine_late = await schedule(
        stack, **activity, subject=f"late {run}", due_at=late, assignee_ids=["casey"]
    )
    mine_soon = await schedule(
        stack, **activity, subject=f"soon {run}", due_at=later, assignee_ids=["casey"]
    )
    olives = await schedule(
        stack, **activity, subject=f"olive {run}", due_at=late, assignee_ids=["olive"]
    )

    async with signed_in(stack, "casey") as console:
        page = await console.get("/my-work")
        assert page.status_code == 200, page.text
        found = tables(page.text)
        overdue = next(rows for caption, rows in found.items() if caption.startswith("Overdue"))
        coming = next(rows for caption, rows in found.items() if caption.startswith("Coming"))
        assert any(mine_late["subject"] in cell for cell in column(overdue, 1))
        assert not any(mine_soon["subject"] in cell for cell in column(overdue, 1))
        assert any(mine_soon["subject"] in cell for cell in column(coming, 1))
        assert not any(mine_late["subject"] in cell for cell in column(coming, 1))
        assert olives["subject"] not in page.text
        assert page.text.index(mine_late["subject"]) < page.text.index(mine_soon["subject"])
        assert f'href="/cases/{case["id"]}"' in page.text
        assert case["subject"] in column(overdue, 3)

        only = await console.get("/my-work", params={"overdue": "true"})
        assert only.status_code == 200
        assert mine_late["subject"] in only.text
        assert mine_soon["subject"] not in only.text and olives["subject"] not in only.text


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _shown(amount: Decimal, currency: str) -> str:
    return f"{_cents(amount):,} {currency}"


async def test_the_pipeline_of_a_sales_instance_per_status_and_currency_with_a_chart(stack):
    run = uuid.uuid4().hex[:6]
    stages = {f"lead_{run}": 10, f"offer_{run}": 45, f"deal_{run}": 90}
    soon = date.today().replace(day=1) + timedelta(days=40)  # next month
    deals = [  # (status, amount, currency)
        (f"lead_{run}", "1000.00", "EUR"),
        (f"lead_{run}", "200.55", "EUR"),
        (f"offer_{run}", "333.33", "USD"),
        (f"deal_{run}", "5000.00", "USD"),
        (f"deal_{run}", "10.00", "EUR"),
    ]
    instance = f"shop_{run}"
    async with cases_api(stack) as api:
        for weight, (name, probability) in enumerate(stages.items()):
            status = {"name": name, "label": f"Stage {name}", "grouping": "opened"}
            status |= {"weight": weight, "probability": probability}
            assert (await api.post("/case-statuses", json=status)).status_code == 201
        body = {"name": instance, "label": f"Shop {run}", "singular_label": "Deal"}
        body |= {"instance_type": "sales_opportunity", "features": []}
        assert (await api.post("/instances", json=body)).status_code == 201
        deal_type = {
            "title": "Deal",
            "instance": instance,
            "definition": {"statuses": list(stages)},
        }
        assert (await api.put(f"/case-types/sale_{run}", json=deal_type)).status_code == 201
        for index, (status, amount, currency) in enumerate(deals):
            body = {"case_type": f"sale_{run}", "subject": f"deal {index} {run}", "status": status}
            body["client"] = {"first_name": "Buyer", "email": f"b{index}-{run}@e.org"}
            body["opportunity"] = {
                "amount": amount,
                "currency": currency,
                "expected_close_date": soon.isoformat(),
            }
            made = await api.post("/cases", json=body)
            assert made.status_code == 201, made.text

    expected: dict[tuple[str, str], list] = {}  # (status, currency) -> [count, amount, weighted]
    for status, amount, currency in deals:
        line = expected.setdefault((status, currency), [0, Decimal(0), Decimal(0)])
        line[0] += 1
        line[1] += Decimal(amount)
        line[2] += Decimal(amount) * stages[status] / 100

    async with signed_in(stack, "casey") as console:
        page = await console.get(f"/i/{instance}/pipeline")
        assert page.status_code == 200, page.text
        found = tables(page.text)
        for currency in ("EUR", "USD"):
            rows = found[f"By status, {currency}"]
            shown = {row[0]: row[2:] for row in rows}
            wanted = {
                f"Stage {status}": [str(n), _shown(amount, cur), _shown(weighted, cur)]
                for (status, cur), (n, amount, weighted) in expected.items()
                if cur == currency
            }
            assert shown == wanted
            month = next(row for row in found[f"Forecast, {currency}"] if row[0] == f"{soon:%b %Y}")
            total = sum((a for (_, c), (_, a, _) in expected.items() if c == currency), Decimal(0))
            assert month[2] == _shown(total, currency)
        # Per currency, never summed across: no line mixes them.
        assert all("USD" not in cell for row in found["By status, EUR"] for cell in row)
        assert '<svg role="img"' in page.text
        assert "Forecast in EUR by expected-close month" in page.text
        eur_total = sum((a for (_, c), (_, a, _) in expected.items() if c == "EUR"), Decimal(0))
        assert f"{soon:%b %Y}: {_shown(eur_total, 'EUR')}" in page.text  # the chart's summary
        assert 'class="bar weighted"' in page.text
        assert 'aria-current="page">Pipeline' in page.text

        not_sales = await console.get("/i/cases/pipeline")
        assert not_sales.status_code == 404
        assert "not a sales instance" in not_sales.text
        unknown = await console.get(f"/i/none_{run}/pipeline")
        assert unknown.status_code == 404

        filtered = await console.get(f"/i/{instance}/pipeline", params={"currency": "usd"})
        assert filtered.status_code == 200
        assert "By status, USD" in tables(filtered.text) and "EUR" not in str(tables(filtered.text))


async def test_configuration_lists_the_demo_forms_rules_and_templates(stack):
    async with httpx.AsyncClient(headers=STAFF, timeout=30) as api:
        rules = (await api.get(f"{url(stack, 'automation-svc')}/rules")).json()["items"]
        notes = (await api.get(f"{url(stack, 'notify-svc')}/templates")).json()["items"]
    assert rules and notes
    async with signed_in(stack, "admin") as console:
        start = await console.get("/my-work")
        assert 'href="/configuration"' in start.text
        page = await console.get("/configuration")
        assert page.status_code == 200, page.text
        found = tables(page.text)
        public = f"{url(stack, 'intake-svc')}/f/contact"
        assert f'href="{public}"' in page.text
        assert any("(contact)" in cell for cell in column(found["Web forms"], 0))
        assert {r["name"] for r in rules} <= set(column(found["Rules"], 0))
        assert {t["name"] for t in notes} <= set(column(found["Email templates"], 0))
        for kind in ("forms", "rules", "templates"):
            assert (await console.get(f"/configuration/{kind}")).status_code == 200
        rule = next(r for r in rules if r["trigger"]["event"] == "case.opened")
        one = await console.get(f"/configuration/rules/{rule['id']}")
        assert one.status_code == 200 and rule["name"] in one.text


async def test_a_template_preview_and_a_rule_dry_run_for_a_case(stack):
    run = uuid.uuid4().hex[:8]
    async with cases_api(stack) as api:
        case = await open_case(
            api, f"preview {run}", client={"first_name": f"Pia{run}", "email": f"p-{run}@e.org"}
        )
    async with httpx.AsyncClient(headers=STAFF, timeout=30) as api:
        rules = (await api.get(f"{url(stack, 'automation-svc')}/rules")).json()["items"]
    rule = next(r for r in rules if r["trigger"]["event"] == "case.opened")

    async with signed_in(stack, "admin") as console:
        page = await console.get("/configuration/templates/acknowledgement")
        csrf = form_token(page.text)

        async def previewed():
            answer = await console.post(
                "/configuration/templates/acknowledgement/preview",
                data={"csrf": csrf, "case_id": case["id"]},
            )
            return answer if answer.status_code == 200 else None

        answer = await eventually(previewed, timeout_s=30, interval_s=0.5)
        assert f"We received your message: {case['subject']}" in answer.text
        assert f"Dear Pia{run}," in answer.text
        # The HTML body as escaped source, never as markup of the page.
        assert f"&lt;p&gt;Dear Pia{run}," in answer.text
        assert f"<p>Dear Pia{run}," not in answer.text
        assert f"p-{run}@e.org" in answer.text

        async def tried():
            answer = await console.post(
                f"/configuration/rules/{rule['id']}/dry-run",
                data={"csrf": csrf, "case_id": case["id"]},
            )
            return answer if answer.status_code == 200 else None

        answer = await eventually(tried, timeout_s=30, interval_s=0.5)
        assert "would fire" in answer.text and "would not fire" not in answer.text

        bad = await console.post(
            f"/configuration/rules/{rule['id']}/dry-run", data={"csrf": csrf, "case_id": "x"}
        )
        assert bad.status_code == 422 and 'role="alert"' in bad.text
        forged = await console.post(
            f"/configuration/rules/{rule['id']}/dry-run", data={"case_id": case["id"]}
        )
        assert forged.status_code == 403


async def test_a_caseworker_without_configure_sees_no_link_and_is_refused_a_dry_run(stack):
    async with httpx.AsyncClient(headers=STAFF, timeout=30) as api:
        rules = (await api.get(f"{url(stack, 'automation-svc')}/rules")).json()["items"]
        async with cases_api(stack) as cases:
            case = await open_case(cases, f"casey's {uuid.uuid4().hex[:8]}")
    async with signed_in(stack, "casey") as console:
        page = await console.get("/my-work")
        assert page.status_code == 200
        assert 'href="/configuration"' not in page.text
        # Reading configuration needs only a known token: the services allow it.
        listed = await console.get("/configuration")
        assert listed.status_code == 200 and rules[0]["name"] in listed.text
        # Trying a rule needs configure: automation-svc refuses, the page says so.
        refused = await console.post(
            f"/configuration/rules/{rules[0]['id']}/dry-run",
            data={"csrf": form_token(page.text), "case_id": case["id"]},
        )
        assert refused.status_code == 403
        assert "configure" in refused.text and 'role="alert"' in refused.text
