"""The sales pipeline (GET /dashboard/pipeline) over a known set of opportunities, in a
database of its own: every figure is computed here by hand from the set, and the own-cases
path (summed from the cases) must say what the totals' path (kept by triggers) says."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from types import SimpleNamespace

import pytest

from casestream.settings import StaffToken

from .conftest import case_service
from .test_case_finding import as_user, set_values

STATUSES = [
    ("lead", "opened", 1, 10),
    ("proposal", "opened", 2, 50),
    ("negotiation", "opened", 3, 90),
    ("won", "closed", 4, 100),
    ("lost", "closed", 5, 0),
]
PROBABILITY = {name: p for name, _, _, p in STATUSES}
TOKENS = {"seller-token": StaffToken(user="seller", rights=["cases:sales:own", "add_cases"])}
SELLER = as_user("seller-token")
TODAY = datetime.now(UTC).date()  # the database's today (UTC)


def month(k: int) -> date:
    index = TODAY.year * 12 + TODAY.month - 1 + k
    return date(index // 12, index % 12 + 1, 15)


# key: status it ends in, amount, currency, expected close (months from now), owner, a
# probability set by a person, how it gets there (statuses it passes, a close outcome).
DEALS = {
    "a": ("lead", "1000.00", "EUR", 0, "seller", None),
    "b": ("proposal", "2500.50", "EUR", 1, "manager", None),
    "c": ("negotiation", "333.33", "EUR", 2, None, 75),
    "d": ("proposal", "1200.00", "USD", -1, "seller", None),
    "e": ("won", "400.00", "USD", 0, "seller", None),
    "f": ("lost", "999.99", "EUR", 3, "manager", None),
    "g": ("lead", "10.01", "EUR", 14, None, None),  # beyond the 12 months
    "h": ("proposal", "0.01", "EUR", -3, None, None),  # weighted: 0.005, half up
    "i": ("proposal", "77.77", "USD", 4, "manager", None),  # opened by the seller
}
OPENED_BY_SELLER = {"i"}


def cents(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


@pytest.fixture(scope="module")
async def sales(create_database, kafka_bootstrap):
    async with case_service(
        create_database, kafka_bootstrap, demo=False, tokens=TOKENS, lifespan=False
    ) as service:
        api = service.client
        for name, grouping, weight, probability in STATUSES:
            body = {"name": name, "label": name.title(), "grouping": grouping, "weight": weight}
            response = await api.post("/case-statuses", json=body | {"probability": probability})
            assert response.status_code == 201, response.text
        for name, kind in (("sales", "sales_opportunity"), ("cases", "case_management")):
            body = {"name": name, "label": name, "singular_label": name, "instance_type": kind}
            assert (await api.post("/instances", json=body)).status_code == 201
        deal = {"title": "Deal", "instance": "sales", "definition": {"statuses": list(PROBABILITY)}}
        assert (await api.put("/case-types/deal", json=deal)).status_code == 201
        ids = {}
        for key, spec in DEALS.items():
            opener = SELLER if key in OPENED_BY_SELLER else {}
            ids[key] = await _open(api, service.database, opener, key, *spec)
        yield SimpleNamespace(api=api, ids=ids, database=service.database)


async def _open(api, database, opener, key, status, amount, currency, close_in, owner, probability):
    opportunity = {"amount": amount, "currency": currency}
    opportunity["expected_close_date"] = str(month(close_in))
    if probability is not None:
        opportunity["probability"] = probability
    body = {"case_type": "deal", "subject": f"Deal {key}", "client": {"first_name": key}}
    response = await api.post("/cases", json=body | {"opportunity": opportunity}, headers=opener)
    assert response.status_code == 201, response.text
    case_id = response.json()["id"]
    # Opened as a lead (the first status) ten days ago.
    await set_values(database, case_id, start_date=TODAY - timedelta(days=10))
    if owner:
        assert (await api.post(f"/cases/{case_id}/assign", json={"user": owner})).status_code == 200
    if status in ("won", "lost"):
        closing = {"status": status, "outcome": status.title()}  # any case: "Won"
        response = await api.post(f"/cases/{case_id}/close", json=closing)
    elif status != "lead":
        response = await api.post(f"/cases/{case_id}/status", json={"status": status})
    assert response.status_code in (200, 201), response.text
    return case_id


def by_hand(keys):
    """What the pipeline must say of the deals ``keys``."""
    statuses, months, owners = defaultdict(list), defaultdict(list), defaultdict(list)
    for key in keys:
        status, amount, currency, close_in, owner, probability = DEALS[key]
        p = probability if probability is not None else PROBABILITY[status]
        line = (Decimal(amount), Decimal(amount) * p / 100)
        statuses[(status, currency)].append(line)
        if status in ("won", "lost"):
            continue
        owners[(owner, currency)].append(line)
        if close_in < 0:
            months[("past_due", currency)].append(line)
        elif close_in < 12:
            months[(f"{month(close_in):%Y-%m}", currency)].append(line)

    def summed(lines):
        return (len(lines), cents(sum(a for a, _ in lines)), cents(sum(w for _, w in lines)))

    return (
        {k: summed(v) for k, v in statuses.items()},
        {k: summed(v) for k, v in months.items()},
        {k: summed(v) for k, v in owners.items()},
    )


def figures(body):
    def line(item):
        return (item["count"], item["amount"], item["weighted_amount"])

    return (
        {(i["status"], i["currency"]): line(i) for i in body["by_status"]},
        {(i["month"], i["currency"]): line(i) for i in body["forecast"] if i["count"]},
        {(i["owner"], i["currency"]): line(i) for i in body["by_owner"]},
    )


async def pipeline(api, token=None, **params):
    headers = as_user(token) if token else {}
    response = await api.get("/dashboard/pipeline", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_pipeline_adds_up_as_by_hand(sales):
    body = await pipeline(sales.api)
    assert figures(body) == by_hand(DEALS)
    # In status order; every month of the forecast there, empty ones too.
    order = [name for name, *_ in STATUSES]
    assert [line["status"] for line in body["by_status"]] == sorted(
        (line["status"] for line in body["by_status"]), key=order.index
    )
    months = ["past_due"] + [f"{month(k):%Y-%m}" for k in range(12)]
    for currency in ("EUR", "USD"):
        assert [m["month"] for m in body["forecast"] if m["currency"] == currency] == months
    assert body["by_status"][0]["probability"] == 10
    # h: 0.01 at 50 %: 0.005, rounded half up.
    assert figures(body)[0][("proposal", "EUR")] == (2, "2500.51", "1250.26")


async def test_the_win_rate_by_count_by_amount_and_days(sales):
    rate = (await pipeline(sales.api))["win_rate"]

    assert (rate["won"], rate["lost"], rate["by_count"]) == (1, 1, 0.5)
    assert rate["average_days_to_win"] == 10.0
    assert rate["closed_to"] == str(TODAY)
    currencies = {c["currency"]: c for c in rate["by_currency"]}
    assert currencies["USD"]["won_amount"] == "400.00" and currencies["USD"]["by_amount"] == 1.0
    assert currencies["EUR"]["lost_amount"] == "999.99" and currencies["EUR"]["by_amount"] == 0.0
    # A period with no closings has no rate.
    before = {"closed_from": "2020-01-01", "closed_to": "2020-12-31"}
    empty = (await pipeline(sales.api, **before))["win_rate"]
    assert (empty["won"], empty["lost"], empty["by_count"], empty["by_currency"]) == (
        0,
        0,
        None,
        [],
    )


async def test_filters_narrow_it(sales):
    assert figures(await pipeline(sales.api, currency="USD")) == by_hand("dei")
    assert figures(await pipeline(sales.api, owner="none")) == by_hand("cgh")
    assert figures(await pipeline(sales.api, owner="manager")) == by_hand("bfi")
    assert figures(await pipeline(sales.api, case_type="other")) == ({}, {}, {})


async def test_an_own_cases_token_sees_what_it_holds_and_what_it_opened(sales):
    mine = await pipeline(sales.api, "seller-token")
    held = await pipeline(sales.api, owner="seller")

    assert figures(mine) == by_hand("adei")  # i: opened by the seller, held by the manager
    assert figures(held) == by_hand("ade")
    assert figures(await pipeline(sales.api, "seller-token", owner="seller")) == by_hand("ade")
    assert figures(await pipeline(sales.api, "seller-token", owner="manager")) == by_hand("i")
    assert mine["win_rate"] == held["win_rate"]
    assert (mine["win_rate"]["won"], mine["win_rate"]["lost"]) == (1, 0)


async def test_the_probability_follows_the_status_until_a_person_sets_it(sales):
    api, case_id = sales.api, sales.ids["a"]
    moved = await api.post(f"/cases/{case_id}/status", json={"status": "negotiation"})
    assert moved.json()["opportunity"]["probability"] == 90
    history = (await api.get(f"/cases/{case_id}/history")).json()
    assert history[-1]["changes"]["opportunity"]["after"]["probability"] == 90
    await api.patch(f"/cases/{case_id}", json={"opportunity": {"probability": 30}})
    back = await api.post(f"/cases/{case_id}/status", json={"status": "lead"})
    assert back.json()["opportunity"]["probability"] == 30  # set by a person: kept
    cleared = await api.patch(f"/cases/{case_id}", json={"opportunity": {"probability": None}})
    assert cleared.json()["opportunity"]["probability"] == 10  # the status's again
    assert figures(await pipeline(api)) == by_hand(DEALS)  # back as it was


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"currency": "eur"}, "currency"),
        ({"closed_from": "2026-02-01", "closed_to": "2026-01-01"}, "closed_from"),
        ({"instance": "cases"}, "instance"),
        ({"closed_to": "tomorrow"}, "closed_to"),
    ],
)
async def test_bad_queries_name_their_field(sales, params, field):
    response = await sales.api.get("/dashboard/pipeline", params=params)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][-1] == field
