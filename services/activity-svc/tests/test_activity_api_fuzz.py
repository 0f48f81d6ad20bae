"""Bad input never gives a 5xx (issue 12): schemathesis over every operation of
activity-svc's API (``casestream.testing.fuzz``), and the cases it once found, each a 422
naming the field."""

from __future__ import annotations

from activity_svc.config import Settings
from activity_svc.main import create_app
from casestream.testing.fuzz import assert_no_server_error, refused
from casestream.testing.harness import service_fixture
from casestream.testing.services import STAFF_HEADERS

from .conftest import MIGRATIONS, ActivityService

# An app of its own (what the fuzzer creates stays out of the session's), HTTP only.
fuzzed = service_fixture(
    create_app, Settings, MIGRATIONS, scope="module", name="activity_fuzz", lifespan=False
)


async def test_no_input_gives_a_server_error(fuzzed: ActivityService) -> None:
    await assert_no_server_error(fuzzed)


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
