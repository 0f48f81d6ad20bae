"""Bad input never gives a 5xx (issue 12): schemathesis over every operation of
activity-svc's API (``casestream.testing.fuzz``), and the cases it once found, each a 422
naming the field."""

from __future__ import annotations

from typing import Any

from activity_svc.config import Settings
from activity_svc.main import create_app
from casestream.testing.fuzz import fuzz
from casestream.testing.harness import service_fixture
from casestream.testing.services import STAFF_HEADERS

from .conftest import MIGRATIONS, ActivityService

# An app of its own (what the fuzzer creates stays out of the session's), HTTP only.
fuzzed = service_fixture(
    create_app, Settings, MIGRATIONS, scope="module", name="activity_fuzz", lifespan=False
)


async def test_no_input_gives_a_server_error(fuzzed: ActivityService) -> None:
    report = await fuzz(fuzzed.app, fuzzed.client, max_examples=30, negative_examples=10)
    print(f"activity-svc: {report.sent} requests in {report.seconds:.1f} s, {report.statuses}")
    assert not report.failures, report.describe()


def refused(response: Any, *loc: Any) -> list[dict[str, Any]]:
    """The 422's errors about the field at ``loc`` (there is at least one)."""
    assert response.status_code == 422, response.text
    errors = [e for e in response.json()["detail"] if tuple(e["loc"]) == loc]
    assert errors, response.json()
    return errors


async def test_a_duration_beyond_an_integer_is_refused_naming_it(service: ActivityService) -> None:
    activity = {"type": "phone_call", "subject": "Long", "duration_minutes": 1.5e18}
    response = await service.client.post("/activities", json=activity, headers=STAFF_HEADERS)
    [error] = refused(response, "body", "duration_minutes")
    assert error["type"] == "less_than_equal"


async def test_a_nul_in_an_activity_is_refused_naming_it(service: ActivityService) -> None:
    activity = {"type": "phone_call", "subject": "a\u0000b"}
    response = await service.client.post("/activities", json=activity, headers=STAFF_HEADERS)
    [error] = refused(response, "body", "subject")
    assert error["type"] == "string_control_character"
    completion = {"details": "done\u0000", "duration_minutes": 2**31}
    response = await service.client.post(
        "/activities/00000000-0000-0000-0000-000000000000/complete",
        json=completion,
        headers=STAFF_HEADERS,
    )
    refused(response, "body", "details")
    refused(response, "body", "duration_minutes")
