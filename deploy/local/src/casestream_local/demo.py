"""Loading the demo configuration (demo.json) through the services' public HTTP APIs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

DEMO_PATH = Path(__file__).with_name("demo.json")


class DemoError(RuntimeError):
    pass


@dataclass(frozen=True)
class DemoRequest:
    service: str
    method: str
    path: str
    body: Any = None

    def __str__(self) -> str:
        return f"{self.method} {self.service}{self.path}"


def read_demo(path: Path = DEMO_PATH) -> list[DemoRequest]:
    data = json.loads(path.read_text())
    items = data["requests"] if isinstance(data, dict) else data
    return [DemoRequest(i["service"], i["method"].upper(), i["path"], i.get("body")) for i in items]


def _done(request: DemoRequest, response: httpx.Response) -> bool:
    # A POST of something that already exists answers 409: a repeated load is not an error.
    return response.is_success or (request.method == "POST" and response.status_code == 409)


def load_demo(
    requests: list[DemoRequest],
    base_urls: Mapping[str, str],
    token: str,
    *,
    client: httpx.Client | None = None,
    retry_s: float = 20.0,
    echo: Callable[[str], None] = print,
) -> None:
    """Send each request in order. A refused request is retried for ``retry_s``: a service may
    still be waiting for another one's event (a form naming a case type it has not heard of
    yet); after that it is an error naming the request."""
    own_client = client is None
    client = client or httpx.Client(timeout=10)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        for request in requests:
            if request.service not in base_urls:
                raise DemoError(f"{request}: no such service in this stack")
            url = base_urls[request.service].rstrip("/") + request.path
            deadline = time.monotonic() + retry_s
            while True:
                try:
                    response = client.request(
                        request.method, url, json=request.body, headers=headers
                    )
                    problem = None if _done(request, response) else _describe(response)
                except httpx.HTTPError as error:
                    problem = f"{type(error).__name__}: {error}"
                if problem is None:
                    echo(f"  {request} -> {response.status_code}")
                    break
                if time.monotonic() > deadline:
                    raise DemoError(f"demo request {request} failed: {problem}")
                time.sleep(0.5)
    finally:
        if own_client:
            client.close()


def _describe(response: httpx.Response) -> str:
    return f"HTTP {response.status_code} {response.text[:500]}"
