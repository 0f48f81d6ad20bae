"""A rights matrix generated from a service's OpenAPI document, so that no staff endpoint is
forgotten: each service's test lists what every operation needs (``Need``) and which are
public; an operation in the document that the list does not name, or a listed one that is
gone, fails the test.

Each staff operation is then called (path parameters filled with fakes from the document,
bodies ``{}``) with:

- no token and an unknown token: 401;
- a token with no rights (``nobody``) and an own-cases caseworker (``own``: ``cases:*:own``
  and ``add_cases``): 403 where the operation needs a right they lack (``Need.right``), which
  the dependency answers before the body is validated (hence 403, not 422, for ``{}``);
- a ``configure`` token and the admin: anything but 401/403 where ``configure`` is needed;
- the own token on ``Need.outside``, a call naming something of a case it may not see: 403;
  on ``Need.inside`` (something of its own case), and on operations any staff token may use,
  anything but 401/403.

Lists filtered by visibility are marked ``Need(lists=True)``; the service's test checks with
``listed`` that the own token's page holds its things and none of another's.

    NEEDS = {("GET", "/templates"): STAFF, ("PUT", "/templates/{name}"): CONFIGURE, ...}
    async def test_rights(service):
        with matrix_tokens(service.settings) as tokens:
            assert await failures(service.client, service.app, NEEDS, tokens) == []
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from casestream.settings import ServiceSettings, StaffToken
from casestream.testing.services import STAFF_HEADERS

Operation = tuple[str, str]  # ("GET", "/emails/{email_id}")

PUBLIC: frozenset[Operation] = frozenset(
    {
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/asyncapi.json"),
        ("GET", "/asyncapi"),
    }
)
"""What every service serves to anyone (probes, metrics, its AsyncAPI document)."""

WRITES = {"POST", "PUT", "PATCH"}
OWN_RIGHTS = ("cases:*:own", "add_cases")  # the own token's


@dataclass(frozen=True)
class Call:
    """Path parameter values, query and body for one call (what is not given: fakes, ``{}``)."""

    path: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    json: Any = None


@dataclass(frozen=True)
class Need:
    """What an operation needs: a ``right`` checked before its input (403 without it), and
    for what hangs off cases, a call naming something outside the own token's cases
    (``outside``: 403) and one naming its own (``inside``: allowed)."""

    right: str | None = None
    outside: Call | None = None
    inside: Call | None = None
    lists: bool = False  # filtered by visibility: the service's test checks with ``listed``


STAFF = Need()  # any known token
CONFIGURE = Need(right="configure")


@dataclass(frozen=True)
class Tokens:
    own_user: str  # the own token's user: open/assign its cases to them
    nobody: dict[str, str]
    own: dict[str, str]
    configure: dict[str, str]
    admin: dict[str, str] = field(default_factory=lambda: dict(STAFF_HEADERS))
    unknown: dict[str, str] = field(
        default_factory=lambda: {"Authorization": "Bearer matrix-unknown-token"}
    )


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextlib.contextmanager
def matrix_tokens(settings: ServiceSettings) -> Iterator[Tokens]:
    """The matrix's tokens, known to the running app (its settings are read per request)
    for the duration; the own token's user is new each time, so nothing of another test is
    its own."""
    suffix = uuid.uuid4().hex[:8]
    own_user = f"matrix-own-{suffix}"
    added = {
        f"matrix-nobody-{suffix}": StaffToken(user=f"matrix-nobody-{suffix}", rights=[]),
        f"matrix-own-{suffix}": StaffToken(user=own_user, rights=list(OWN_RIGHTS)),
        f"matrix-configure-{suffix}": StaffToken(
            user=f"matrix-configure-{suffix}", rights=["configure"]
        ),
    }
    settings.staff_tokens.update(added)
    try:
        yield Tokens(
            own_user=own_user,
            nobody=_bearer(f"matrix-nobody-{suffix}"),
            own=_bearer(f"matrix-own-{suffix}"),
            configure=_bearer(f"matrix-configure-{suffix}"),
        )
    finally:
        for token in added:
            settings.staff_tokens.pop(token, None)


def operations(app: FastAPI) -> dict[Operation, dict[str, Any]]:
    """Every operation of the app's OpenAPI document, with its description there."""
    return {
        (method.upper(), path): operation
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
    }


def unclassified(
    app: FastAPI, needs: Mapping[Operation, Need], public: frozenset[Operation] = PUBLIC
) -> list[str]:
    """Operations the document has and ``needs`` does not name, and the other way round."""
    documented = set(operations(app))
    missing = sorted(documented - public - set(needs))
    stale = sorted(set(needs) - documented)
    return [f"not in the rights matrix: {m} {p}" for m, p in missing] + [
        f"in the rights matrix but not served: {m} {p}" for m, p in stale
    ]


def _fake(parameter: dict[str, Any]) -> str:
    schema = parameter.get("schema", {})
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    return "matrix-x"


def _url(path: str, operation: dict[str, Any], values: Mapping[str, str]) -> str:
    fakes = {p["name"]: _fake(p) for p in operation.get("parameters", []) if p.get("in") == "path"}
    return re.sub(r"{(\w+)}", lambda m: values.get(m[1]) or fakes[m[1]], path)


async def _call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    operation: dict[str, Any],
    headers: Mapping[str, str] | None,
    call: Call | None = None,
) -> httpx.Response:
    call = call or Call()
    body = call.json if call.json is not None else ({} if method in WRITES else None)
    request = client.build_request(
        method, _url(path, operation, call.path), params=dict(call.params), json=body
    )
    # Only the matrix's token: not one the client sends by default.
    request.headers.pop("authorization", None)
    request.headers.update(dict(headers or {}))
    return await client.send(request)


async def failures(
    client: httpx.AsyncClient,
    app: FastAPI,
    needs: Mapping[Operation, Need],
    tokens: Tokens,
    public: frozenset[Operation] = PUBLIC,
) -> list[str]:
    """Every way the app's answers differ from the matrix, one line each (empty: none)."""
    found = unclassified(app, needs, public)
    documented = operations(app)
    for (method, path), need in needs.items():
        if (method, path) not in documented:
            continue
        operation = documented[(method, path)]
        for who, headers, wanted, call in _checks(need, tokens):
            response = await _call(client, method, path, operation, headers, call)
            code = response.status_code
            ok = code == int(wanted) if wanted.isdigit() else code not in (401, 403)
            if not ok:
                found.append(
                    f"{method} {path} as {who}: {code} (wanted {wanted}) {response.text[:160]}"
                )
    return found


Check = tuple[str, Mapping[str, str] | None, str, Call | None]  # who, headers, wanted, call


def _checks(need: Need, tokens: Tokens) -> list[Check]:
    """The calls of one operation and what each must answer ("allowed": not 401/403)."""
    checks: list[Check] = [
        ("no token", None, "401", None),
        ("an unknown token", tokens.unknown, "401", None),
    ]
    if need.right is not None:
        checks.append(("nobody", tokens.nobody, "403", None))
        if need.right not in OWN_RIGHTS:
            checks.append(("own", tokens.own, "403", None))
        mine = need.right == "configure"
        checks.append(("configure", tokens.configure, "allowed" if mine else "403", None))
    elif need.outside is None:
        checks.append(("own", tokens.own, "allowed", None))
    if need.outside is not None:
        checks.append(("own, outside its cases", tokens.own, "403", need.outside))
    if need.inside is not None:
        checks.append(("own, on its case", tokens.own, "allowed", need.inside))
    checks.append(("admin", tokens.admin, "allowed", None))
    return checks


async def listed(
    client: httpx.AsyncClient,
    path: str,
    headers: Mapping[str, str],
    params: Mapping[str, str] | None = None,
    key: str = "id",
) -> set[str]:
    """The ``key`` of each item of a list's first page (500 items)."""
    request = client.build_request("GET", path, params={"limit": "500", **(params or {})})
    request.headers.pop("authorization", None)
    request.headers.update(dict(headers))
    response = await client.send(request)
    assert response.status_code == 200, response.text
    data = response.json()
    items = data["items"] if isinstance(data, dict) else data
    return {str(item[key]) for item in items}


__all__ = [
    "CONFIGURE",
    "PUBLIC",
    "STAFF",
    "Call",
    "Need",
    "Tokens",
    "failures",
    "listed",
    "matrix_tokens",
    "operations",
    "unclassified",
]
