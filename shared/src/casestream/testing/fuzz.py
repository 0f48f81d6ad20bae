"""Fuzzing a running service's HTTP API with schemathesis: every operation of its OpenAPI
document, with generated inputs (fitting the schema, and not), sent through the harness's
client (in-process ASGI, on the test's event loop, with the staff token), checked with
schemathesis's ``not_a_server_error``: bad input must never give a 5xx. A 422 from the
safety net (``casestream.http.bad_input``: the database refused a value) fails too: it means
a field whose type lets through what cannot be stored.

Inputs are drawn with hypothesis, derandomized (the same cases on every run, so CI is
reproducible) and a bounded number per operation; they are drawn first and sent after,
because hypothesis does not drive coroutines. A failure names the operation and shows the
request as curl, so it can be replayed.

    async def test_no_input_gives_a_5xx(fuzzed_service):
        report = await fuzz(fuzzed_service.app, fuzzed_service.client)
        assert not report.failures, report.describe()
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err

from casestream.http.bad_input import UNTYPED_REFUSAL
from casestream.testing.services import STAFF_HEADERS

# The operations of the shared app that are no input's business (no parameters, or HTML).
OPS_PATHS = ("/healthz", "/readyz", "/metrics", "/asyncapi.json", "/asyncapi")


@dataclass
class FuzzReport:
    """What was sent and what answered 5xx (``failures``: operation, request, what failed)."""

    sent: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    per_operation: dict[str, dict[int, int]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def describe(self) -> str:
        head = f"{len(self.failures)} of {self.sent} requests answered a server error:"
        return "\n\n".join([head, *self.failures[:20]])


def cases(
    app: FastAPI,
    *,
    max_examples: int = 30,
    negative_examples: int = 10,
    exclude_paths: Iterable[str] = OPS_PATHS,
) -> list[tuple[str, Case[Any]]]:
    """(operation label, case) for every operation of ``app``'s OpenAPI document:
    ``max_examples`` that fit its schema and ``negative_examples`` that do not, each drawn
    by derandomized hypothesis (the same on every run)."""
    schema = schemathesis.openapi.from_dict(app.openapi())
    excluded = set(exclude_paths)
    found: list[tuple[str, Case[Any]]] = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operation = result.ok()
        if operation.path in excluded:
            continue
        label = f"{operation.method.upper()} {operation.path}"
        for mode, examples in (
            (GenerationMode.POSITIVE, max_examples),
            (GenerationMode.NEGATIVE, negative_examples),
        ):
            if examples <= 0:
                continue
            drawn = _drawn(operation.as_strategy(mode), examples)
            if not drawn and mode is GenerationMode.POSITIVE:
                raise RuntimeError(f"{label}: no inputs could be drawn from its schema")
            found.extend((label, case) for case in drawn)
    return found


def _drawn(strategy: Any, examples: int) -> list[Case[Any]]:
    drawn: list[Case[Any]] = []

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(strategy)
    def collect(case: Case[Any]) -> None:
        drawn.append(case)

    # Hypothesis gives up where nothing can be drawn: an operation without parameters has
    # no input that does not fit its schema.
    with contextlib.suppress(Unsatisfiable):
        collect()
    return drawn


def _request(case: Case[Any], headers: Mapping[str, str]) -> dict[str, Any]:
    """httpx keywords for ``case`` (schemathesis serializes it as for requests)."""
    sent = case.as_transport_kwargs(base_url="http://svc", headers=dict(headers))
    request: dict[str, Any] = {
        "method": sent["method"],
        "url": sent["url"],
        "headers": {k: v for k, v in sent.get("headers", {}).items() if v is not None},
        "params": sent.get("params"),
    }
    if "json" in sent:
        request["content"] = json.dumps(sent["json"]).encode()
    elif "data" in sent:
        data = sent["data"]
        if isinstance(data, str | bytes):
            request["content"] = data
        else:
            request["data"] = data
    if "files" in sent:
        request["files"] = sent["files"]
    return request


async def fuzz(
    app: FastAPI,
    client: httpx.AsyncClient,
    *,
    max_examples: int = 30,
    negative_examples: int = 10,
    headers: Mapping[str, str] = STAFF_HEADERS,
    exclude_paths: Iterable[str] = OPS_PATHS,
) -> FuzzReport:
    """Send ``cases(app, ...)`` through ``client`` with ``headers`` (the staff token), one
    at a time, and check each answer with ``not_a_server_error``. A 5xx the app raised as
    an exception (httpx's ASGI transport re-raises it) counts as a failure too."""
    started = time.monotonic()
    report = FuzzReport()
    for label, case in cases(
        app,
        max_examples=max_examples,
        negative_examples=negative_examples,
        exclude_paths=exclude_paths,
    ):
        request = _request(case, headers)
        report.sent += 1
        try:
            response = await client.request(**request)
        except Exception as error:
            report.failures.append(f"{label}: raised {error!r}\n{case.as_curl_command()}")
            continue
        report.statuses[response.status_code] = report.statuses.get(response.status_code, 0) + 1
        answered = report.per_operation.setdefault(label, {})
        answered[response.status_code] = answered.get(response.status_code, 0) + 1
        if response.status_code == 422 and UNTYPED_REFUSAL in response.text:
            report.failures.append(
                f"{label}: the database refused a value no field type caught: "
                f"{response.text[:300]}\n{case.as_curl_command()}"
            )
            continue
        try:
            case.validate_response(response, checks=[not_a_server_error])
        except (AssertionError, BaseExceptionGroup) as failure:
            report.failures.append(
                f"{label}: {response.status_code} {response.text[:300]}\n"
                f"{case.as_curl_command()}\n{str(failure)[:500]}"
            )
    report.seconds = time.monotonic() - started
    return report


__all__ = ["OPS_PATHS", "FuzzReport", "cases", "fuzz"]


async def assert_no_server_error(service: Any) -> None:
    """schemathesis over every operation of ``service`` (a running harness: its app and
    client): 30 examples that fit each schema and 10 that do not; fails on any 5xx (or a
    422 of the safety net: a field left untyped), showing each as a curl command."""
    report = await fuzz(service.app, service.client, max_examples=30, negative_examples=10)
    name = service.settings.service_name
    print(f"{name}: {report.sent} requests in {report.seconds:.1f} s, {report.statuses}")
    assert not report.failures, report.describe()


def refused(response: Any, *loc: Any) -> list[dict[str, Any]]:
    """The 422's errors about the field at ``loc`` or inside it (there is at least one)."""
    assert response.status_code == 422, response.text
    errors = [e for e in response.json()["detail"] if tuple(e["loc"][: len(loc)]) == loc]
    assert errors, response.json()
    return errors
