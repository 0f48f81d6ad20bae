"""GET /cases: every filter, combinations, sorts, keyset pages and who sees what.

The lists here are of everything there is, so the module has databases of its own (HTTP
only): one with the known case load, which its tests leave as they found it, and one for
the pages tests, each of which lists only the cases of a case type of its own."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest

from case_svc import finding as finding_queries
from case_svc.tables import case_links, case_roles, cases, instances
from casestream.settings import StaffToken

from .conftest import case_service, unique

STATUSES = [
    {"name": "open", "label": "Open", "grouping": "opened", "weight": 1},
    {"name": "in_progress", "label": "In progress", "grouping": "opened", "weight": 2},
    {"name": "resolved", "label": "Resolved", "grouping": "closed", "weight": 3},
]
INSTANCES = {"cases": "case_management", "sales": "sales_opportunity", "old": "case_management"}
CASE_TYPES = {"general_enquiry": "cases", "complaint": "cases", "deal": "sales", "legacy": "old"}
CLIENTS = {
    "ada": {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.org"},
    "grace": {"first_name": "Grace", "last_name": "Hopper", "email": "grace@navy.example"},
    "alan": {"first_name": "Alan", "last_name": "Turing", "email": "alan@example.org"},
}
# key, case type, subject, details, client, values set afterwards. Listed oldest first.
CASES = [
    ("legacy", "legacy", "Forgotten case", None, "ada", {"start_date": date(2024, 1, 1)}),
    (
        "streetlight",
        "general_enquiry",
        "Broken streetlight",
        "On Elm Street",
        "ada",
        {"assignee": "tester", "tags": ["urgent", "lighting"], "start_date": date(2024, 1, 10)},
    ),
    (
        "neighbours",
        "general_enquiry",
        "Noisy neighbours",
        "Every night",
        "grace",
        {"tags": ["noise"], "start_date": date(2024, 2, 1)},
    ),
    (
        "bins",
        "complaint",
        "Late bin collection",
        "Bins left for a week",
        "ada",
        {"assignee": "olga", "status": "in_progress", "tags": ["urgent"]}
        | {"start_date": date(2024, 3, 5)},
    ),
    (
        "pothole",
        "complaint",
        "Pothole on Main",
        None,
        "alan",
        {"created_by": "olga", "start_date": date(2024, 3, 20)},
    ),
    (
        "archived",
        "general_enquiry",
        "Old question",
        "Answered",
        "grace",
        {"assignee": "tester", "status": "resolved", "active": False}
        | {"start_date": date(2023, 12, 1)},
    ),
    ("order", "deal", "Big order 100%", None, "alan", {"assignee": "sam"}),
]
TOKENS = {
    "olga-token": StaffToken(user="olga", rights=["cases:cases:own"]),
    "sam-token": StaffToken(user="sam", rights=["cases:sales:all"]),
    "nora-token": StaffToken(user="nora", rights=[]),
}
BASE_TIME = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def as_user(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def finding_service(create_database, kafka_bootstrap, lifespan=False):
    """case-svc with an empty database, knowing this module's tokens too; HTTP only unless
    ``lifespan`` (no broker needed)."""
    return case_service(
        create_database, kafka_bootstrap, demo=False, tokens=TOKENS, lifespan=lifespan
    )


async def configure(api) -> None:
    for status in STATUSES:
        assert (await api.post("/case-statuses", json=status)).status_code == 201
    for name, kind in INSTANCES.items():
        body = {"name": name, "label": name.title(), "singular_label": name, "instance_type": kind}
        assert (await api.post("/instances", json=body)).status_code == 201
    for name, instance in CASE_TYPES.items():
        await configure_case_type(api, name, instance)


async def configure_case_type(api, name: str, instance: str = "cases") -> None:
    body = {
        "title": name.replace("_", " ").title(),
        "instance": instance,
        "definition": {"statuses": [s["name"] for s in STATUSES]},
    }
    assert (await api.put(f"/case-types/{name}", json=body)).status_code == 201, body


async def open_case(api, case_type: str, subject: str, details=None, client=None) -> str:
    body = {"case_type": case_type, "subject": subject, "details": details}
    body["client"] = client or {"first_name": "Bulk", "email": "bulk@example.org"}
    response = await api.post("/cases", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def set_values(database, case_id, **values) -> None:
    async with database.transaction() as tx:
        await tx.session.execute(cases.update().where(cases.c.id == case_id).values(**values))


@asynccontextmanager
async def known_caseload(create_database, kafka_bootstrap) -> AsyncIterator[SimpleNamespace]:
    """The known data set: seven cases over three instances (``old`` disabled), in a
    database of its own (the lists and counts here are of everything there is)."""
    async with finding_service(create_database, kafka_bootstrap) as service:
        api, database = service.client, service.database
        await configure(api)
        ids = {}
        for i, (key, case_type, subject, details, client, values) in enumerate(CASES):
            ids[key] = await open_case(api, case_type, subject, details, CLIENTS[client])
            at = BASE_TIME + timedelta(hours=i)
            await set_values(database, ids[key], created_at=at, updated_at=at, **values)
        async with database.transaction() as tx:
            await tx.session.execute(
                instances.update().where(instances.c.name == "old").values(enabled=False)
            )
        first = (await api.get(f"/cases/{ids['streetlight']}")).json()["clients"][0]["id"]
        contacts = {"ada": first}
        grace = (await api.get(f"/cases/{ids['neighbours']}")).json()["clients"][0]["id"]
        contacts["grace"] = grace
        yield SimpleNamespace(
            api=api, ids=ids, contacts=contacts, app=service.app, database=database
        )


@pytest.fixture(scope="module")
async def caseload(create_database, kafka_bootstrap):
    """The known data set, for the module: a test that changes it puts it back."""
    async with known_caseload(create_database, kafka_bootstrap) as load:
        yield load


async def listed(load, token: str | None = None, **params) -> list[str]:
    """The keys of the cases a search finds, in order (all pages)."""
    names = {v: k for k, v in load.ids.items()}
    headers = as_user(token) if token else {}
    found, cursor = [], None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        response = await load.api.get("/cases", params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        found += [names.get(c["id"], c["id"]) for c in page["items"]]
        if not (cursor := page["next_cursor"]):
            return found


@pytest.mark.parametrize("dense", [2000, 0], ids=["words-found-in-few", "words-found-in-many"])
async def test_each_filter_finds_exactly_its_cases(caseload, monkeypatch, dense):
    monkeypatch.setattr(finding_queries, "DENSE", dense)  # both ways of searching text
    ada, grace = caseload.contacts["ada"], caseload.contacts["grace"]
    expectations = [
        ({}, ["order", "pothole", "bins", "neighbours", "streetlight"]),
        ({"instance": "cases"}, ["pothole", "bins", "neighbours", "streetlight"]),
        ({"instance": "sales"}, ["order"]),
        ({"instance": "old", "active": "all"}, []),  # disabled: hidden, nothing lost
        ({"case_type": "complaint"}, ["pothole", "bins"]),
        ({"case_type": ["complaint", "deal"]}, ["order", "pothole", "bins"]),
        ({"status": "in_progress"}, ["bins"]),
        ({"assignee": "me"}, ["streetlight"]),
        ({"assignee": "me", "active": "all"}, ["archived", "streetlight"]),
        ({"assignee": "none"}, ["pothole", "neighbours"]),
        ({"assignee": "olga"}, ["bins"]),
        ({"client_id": ada}, ["bins", "streetlight"]),
        ({"tag": "urgent"}, ["bins", "streetlight"]),
        ({"tag": ["urgent", "lighting"]}, ["streetlight"]),
        ({"opened_from": "2024-02-01", "opened_to": "2024-03-10"}, ["bins", "neighbours"]),
        ({"opened_from": "2024-03-06"}, ["order", "pothole"]),
        ({"active": "false"}, ["archived"]),
        ({"active": "all"}, ["order", "archived", "pothole", "bins", "neighbours", "streetlight"]),
        ({"q": "elm"}, ["streetlight"]),  # details
        ({"q": "BIN"}, ["bins"]),  # subject, any case
        ({"q": "lovelace"}, ["bins", "streetlight"]),  # a client's name
        ({"q": "navy.example"}, ["neighbours"]),  # a client's email
        ({"q": "ada  street"}, ["streetlight"]),  # every word, anywhere
        ({"q": "%"}, ["order"]),  # wildcards are plain characters
        ({"q": "no such words"}, []),
        ({"instance": "cases", "assignee": "none", "q": "main"}, ["pothole"]),
        (
            {"case_type": "general_enquiry", "active": "all", "client_id": grace},
            ["archived", "neighbours"],
        ),
        ({"tag": "urgent", "status": "open", "assignee": "me"}, ["streetlight"]),
        # By id, several at once (a page of activities names their cases), still filtered.
        ({"id": [caseload.ids["bins"], caseload.ids["order"]]}, ["order", "bins"]),
        ({"id": [caseload.ids["archived"]]}, []),
        ({"id": [caseload.ids["archived"]], "active": "all"}, ["archived"]),
        ({"id": [str(uuid.uuid4())]}, []),
    ]
    for params, expected in expectations:
        assert await listed(caseload, **params) == expected, params


async def test_sorts(caseload):
    newest_first = ["order", "pothole", "bins", "neighbours", "streetlight"]
    assert await listed(caseload, sort="created_at") == newest_first[::-1]
    assert await listed(caseload, sort="-updated_at") == newest_first
    pothole, was = caseload.ids["pothole"], BASE_TIME + timedelta(hours=4)
    await set_values(caseload.database, pothole, updated_at=BASE_TIME + timedelta(days=1))
    try:
        assert await listed(caseload, sort="-updated_at") == [
            "pothole",
            "order",
            "bins",
            "neighbours",
            "streetlight",
        ]
    finally:
        await set_values(caseload.database, pothole, updated_at=was)
    assert await listed(caseload, sort="subject") == [
        "order",
        "streetlight",
        "bins",
        "neighbours",
        "pothole",
    ]


async def test_bad_queries_are_refused_naming_the_parameter(caseload):
    for params, loc in [
        ({"sort": "colour"}, ["query", "sort"]),
        ({"active": "maybe"}, ["query", "active"]),
        ({"limit": 501}, ["query", "limit"]),
        ({"limit": 0}, ["query", "limit"]),
        ({"client_id": "nope"}, ["query", "client_id"]),
        ({"opened_from": "2024-03-01", "opened_to": "2024-02-01"}, ["query", "opened_to"]),
        ({"cursor": "garbage"}, ["query", "cursor"]),
        ({"q": "x" * 201}, ["query", "q"]),
        ({"id": "nope"}, ["query", "id", 0]),
        ({"id": [str(uuid.uuid4()) for _ in range(101)]}, ["query", "id"]),
    ]:
        response = await caseload.api.get("/cases", params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["detail"][0]["loc"] == loc, response.text


async def test_lists_hold_only_what_the_token_may_see(caseload):
    # Own-only: the cases assigned to olga or opened by her, whatever the filter.
    assert await listed(caseload, "olga-token") == ["pothole", "bins"]
    assert await listed(caseload, "olga-token", q="lovelace") == ["bins"]
    assert await listed(caseload, "olga-token", assignee="none") == ["pothole"]
    assert await listed(
        caseload, "olga-token", active="all", client_id=caseload.contacts["ada"]
    ) == ["bins"]
    assert await listed(caseload, "sam-token", active="all") == ["order"]
    assert await listed(caseload, "nora-token", active="all") == []
    for token, instance in [
        ("olga-token", "sales"),
        ("sam-token", "cases"),
        ("nora-token", "cases"),
    ]:
        response = await caseload.api.get(
            "/cases", params={"instance": instance}, headers=as_user(token)
        )
        assert response.status_code == 403, (token, instance)
    # A disabled instance hides its cases from everyone, even with every right.
    assert "legacy" not in await listed(caseload, active="all", client_id=caseload.contacts["ada"])


async def test_items_are_whole_cases_as_get_answers_them(caseload):
    ids, database = caseload.ids, caseload.database
    role_id = uuid.uuid4()
    async with database.transaction() as tx:
        await tx.session.execute(
            case_roles.insert().values(
                id=role_id,
                case_id=ids["bins"],
                role="case_coordinator",
                contact_id=caseload.contacts["grace"],
                start_date=date(2024, 3, 6),
            )
        )
        await tx.session.execute(
            case_links.insert(),
            [
                {"case_id": ids["bins"], "linked_case_id": ids["pothole"]},
                {"case_id": ids["pothole"], "linked_case_id": ids["bins"]},
            ],
        )
    try:
        page = (await caseload.api.get("/cases", params={"active": "all"})).json()["items"]
        assert len(page) == 6
        for item in page:
            assert item == (await caseload.api.get(f"/cases/{item['id']}")).json()
        bins = next(c for c in page if c["id"] == ids["bins"])
        assert bins["roles"][0]["role"] == "case_coordinator"
        assert bins["linked_case_ids"] == [ids["pothole"]]
        assert bins["clients"][0]["last_name"] == "Lovelace"
    finally:
        async with database.transaction() as tx:
            await tx.session.execute(case_roles.delete().where(case_roles.c.id == role_id))
            await tx.session.execute(
                case_links.delete().where(case_links.c.case_id.in_([ids["bins"], ids["pothole"]]))
            )


@pytest.fixture(scope="module")
async def bulk(create_database, kafka_bootstrap):
    """A database for the pages tests: each lists the cases of a case type of its own."""
    async with finding_service(create_database, kafka_bootstrap) as service:
        await configure(service.client)
        yield service


@pytest.mark.parametrize("sort", ["-created_at", "created_at", "-updated_at", "subject"])
async def test_pages_have_no_duplicates_nor_gaps_even_among_ties(bulk, sort):
    api, database, case_type = bulk.client, bulk.database, unique("bulk")
    await configure_case_type(api, case_type)
    ids = [await open_case(api, case_type, f"Bulk {i % 3}") for i in range(23)]
    for i, case_id in enumerate(ids):  # groups of five opened at the same instant
        at = BASE_TIME + timedelta(hours=i // 5)
        await set_values(database, case_id, created_at=at, updated_at=BASE_TIME)
    load = SimpleNamespace(api=api, ids={})
    everything = await listed(load, sort=sort, limit=500, case_type=case_type)
    paged = await listed(load, sort=sort, limit=4, case_type=case_type)
    assert paged == everything
    assert sorted(paged) == sorted(ids)
    params = {"limit": 500, "case_type": case_type}
    states = {c["id"]: c for c in (await api.get("/cases", params=params)).json()["items"]}
    column = sort.lstrip("-")
    keys = [(states[i][column], i) for i in paged]
    assert keys == sorted(keys, reverse=sort.startswith("-"))
