"""The five services' HTTP APIs, called with the signed-in user's token: every permission
is the owning service's, and the console only shows what it answered (or why it refused)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

CASE = "case-svc"
ACTIVITY = "activity-svc"
AUTOMATION = "automation-svc"
NOTIFY = "notify-svc"
INTAKE = "intake-svc"


class SignInRequired(Exception):
    """No session, or the service no longer accepts its token: sign in (again)."""


@dataclass
class Refused(Exception):
    """A service said no (4xx): its reason, in words, and per field for bad input."""

    status: int
    message: str
    fields: dict[str, str] = field(default_factory=dict)
    body: Any = None

    def __str__(self) -> str:
        return self.message

    @property
    def stale(self) -> bool:
        """Someone else changed the thing since the page showed it."""
        return self.status == 409 and "changed since version" in self.message


def refusal(response: httpx.Response) -> Refused:
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    fields: dict[str, str] = {}
    if isinstance(detail, list):
        for problem in detail:
            loc = [str(part) for part in problem.get("loc", []) if part not in ("body", "query")]
            fields[".".join(loc) or "request"] = str(problem.get("msg", "is not valid"))
        message = "; ".join(f"{name}: {msg}" for name, msg in fields.items())
    elif isinstance(detail, str):
        message = detail
    else:
        message = response.reason_phrase or f"refused ({response.status_code})"
    if response.status_code == 403 and not message:
        message = "you do not have the right to do this"
    return Refused(response.status_code, message, fields, body)


class ServicesApi:
    """One HTTP client for the console process (connections kept alive to each service)."""

    def __init__(self, urls: dict[str, str], timeout_s: float) -> None:
        self.urls = urls
        self.client = httpx.AsyncClient(timeout=timeout_s)

    def as_user(self, token: str) -> UserApi:
        return UserApi(self, token)

    async def close(self) -> None:
        await self.client.aclose()


class UserApi:
    def __init__(self, api: ServicesApi, token: str) -> None:
        self.api = api
        self.headers = {"Authorization": f"Bearer {token}"}

    async def call(
        self,
        method: str,
        service: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        query = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        for name, value in (headers or {}).items():
            # From a form (If-Match, Idempotency-Key): HTTP carries printable ASCII only.
            if not (value.isascii() and value.isprintable()):
                raise Refused(422, f"{name}: not a valid value", {name.lower(): "not valid"})
        try:
            response = await self.api.client.request(
                method,
                self.api.urls[service] + path,
                params=query,
                json=json,
                headers={**self.headers, **(headers or {})},
            )
        except httpx.InvalidURL as error:  # an id from the address bar no URL can carry
            raise Refused(404, "There is no such page.") from error
        if response.status_code == 401:
            raise SignInRequired()
        if response.status_code >= 400:
            raise refusal(response)
        if response.status_code == 204 or not response.content:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.content

    async def get(self, service: str, path: str, **params: Any) -> Any:
        return await self.call("GET", service, path, params=params)

    async def post(self, service: str, path: str, json: Any = None, **kw: Any) -> Any:
        return await self.call("POST", service, path, json=json, **kw)

    async def patch(self, service: str, path: str, json: Any = None, **kw: Any) -> Any:
        return await self.call("PATCH", service, path, json=json, **kw)
