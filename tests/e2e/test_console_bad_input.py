"""Bad input never gives the console a 5xx: every page and form of its OpenAPI document (so a
new one cannot be forgotten), signed in as an administrator, with NULs, over-long values,
bytes that are not UTF-8, bad dates and ids in the path, the query and the form. Each
answers a page that says what was wrong (4xx) or the page itself, never a server error."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import httpx
import pytest

from casestream.testing.plugin import eventually
from console_svc.main import create_app

from .conftest import STAFF, url
from .console import form_token, signed_in

BAD = ["\x00", "x" * 2500, "\udcff", "2025-13-45", "' OR 1=1 --", "../../etc/passwd", "-1"]
FIELDS = [
    "status",
    "user",
    "outcome",
    "lost_reason",
    "note",
    "case_type",
    "subject",
    "details",
    "type",
    "due_date",
    "due_time",
    "next_type",
    "next_subject",
    "next_due_date",
    "next_due_time",
    "activity_set",
    "template",
    "case_id",
    "activity_id",
    "to",
    "client_id",
    "first_name",
    "last_name",
    "email",
    "start_date",
    "amount",
    "currency",
    "probability",
    "expected_close_date",
    "version",
    "back",
    "idempotency_key",
]
QUERY = [
    "view",
    "q",
    "cursor",
    "status",
    "case_type",
    "assignee",
    "overdue",
    "currency",
    "owner",
    "closed_from",
    "closed_to",
    "opened_from",
    "active",
    "tag",
]
SKIPPED = {
    "/sign-in/provider",
    "/sign-in/callback",
    "/sign-out",
    "/healthz",
    "/readyz",
    "/metrics",
    "/.well-known/jwks.json",
}


def operations() -> list[tuple[str, str]]:
    paths = create_app().openapi()["paths"]
    return [(m.upper(), p) for p, ops in paths.items() if p not in SKIPPED for m in ops]


def _encoded(value: str) -> str:
    """Percent-encoded; a lone surrogate stands for a byte that is not UTF-8 (sent raw)."""
    return quote(value.encode("utf-8", "surrogateescape"), safe="")


def _urlencoded(values: dict[str, str]) -> str:
    return "&".join(f"{k}={_encoded(v)}" for k, v in values.items())


@pytest.fixture(scope="module")
async def admin(stack):
    """One administrator's session for the module, and its form token."""
    async with signed_in(stack, "admin") as client:
        yield client, form_token((await client.get("/configuration")).text)


@pytest.fixture(scope="module")
async def known(stack) -> dict[str, str]:
    """Real ids for the path parameters, so the bad values also reach the forms' handling."""
    async with httpx.AsyncClient(headers=STAFF, timeout=30) as api:
        case = (
            await api.post(
                f"{url(stack, 'case-svc')}/cases",
                json={
                    "case_type": "general_enquiry",
                    "subject": f"fuzz {uuid.uuid4().hex[:6]}",
                    "client": {"first_name": "Fay", "last_name": "Zed", "email": "fz@example.org"},
                },
            )
        ).json()

        async def an_activity():
            found = await api.get(f"{url(stack, 'activity-svc')}/cases/{case['id']}/activities")
            items = found.json()["items"]
            return items[0]["id"] if items else None

        activity = await eventually(an_activity, timeout_s=30)
        rules = (await api.get(f"{url(stack, 'automation-svc')}/rules")).json()
    rule = (rules["items"] if isinstance(rules, dict) else rules)[0]["id"]
    return {
        "case_id": case["id"],
        "activity_id": activity,
        "contact_id": case["clients"][0]["id"],
        "name": "cases",
        "rule_id": rule,
        "kind": "rules",
    }


@pytest.mark.parametrize("method,path", operations())
async def test_no_input_gives_the_console_a_server_error(admin, known, method, path):
    client, token = admin
    params = [name[1:-1] for name in path.split("/") if name.startswith("{")]
    tries: list[tuple[dict[str, str], dict[str, str], dict[str, str]]] = []
    for bad in BAD:
        # A bad value in each path parameter, in turn, the others real.
        for name in params:
            tries.append(({**known, name: bad}, {}, {}))
        # Real path, bad query and bad form.
        tries.append((known, dict.fromkeys(QUERY, bad), dict.fromkeys(FIELDS, bad)))
    failures = []
    for where, query, form in tries:
        target = path
        for name in params:
            target = target.replace("{" + name + "}", _encoded(where[name]))
        if query:
            target += "?" + _urlencoded(query)
        body = _urlencoded({"csrf": token, **form}) if method == "POST" else None
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
        answer = await client.request(method, target, content=body, headers=headers)
        if answer.status_code >= 500:
            failures.append(f"{method} {target[:200]} -> {answer.status_code}")
    assert not failures, "\n".join(failures[:10])
