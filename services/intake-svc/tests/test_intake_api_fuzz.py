"""Bad input never gives a 5xx (issue 12): schemathesis over every operation of intake-svc's
API (``casestream.testing.fuzz``), and such inputs refused as 422 naming the field, on the
public post too."""

from __future__ import annotations

from casestream.testing.fuzz import assert_no_server_error, refused
from casestream.testing.harness import service_fixture
from casestream.testing.services import STAFF_HEADERS
from intake_svc.config import Settings
from intake_svc.main import create_app

from .conftest import FORM_SECRET, MIGRATIONS, Intake, contact_form

# An app of its own (what the fuzzer creates stays out of the session's), HTTP only.
fuzzed = service_fixture(
    create_app,
    Settings,
    MIGRATIONS,
    scope="module",
    harness=Intake,
    name="intake_fuzz",
    lifespan=False,
    form_secret=FORM_SECRET,
)


async def test_no_input_gives_a_server_error(fuzzed: Intake) -> None:
    await assert_no_server_error(fuzzed)


async def test_a_nul_in_a_form_definition_is_refused_naming_it(intake: Intake) -> None:
    form = contact_form(title="Contact\u0000")
    response = await intake.client.put("/forms/nul-title", json=form, headers=STAFF_HEADERS)
    refused(response, "body", "title")
    refused(await intake.client.get("/f/nul%00slug"), "path", "slug")


async def test_a_nul_in_an_answer_is_refused_naming_it(intake: Intake) -> None:
    await intake.put_form("nul-answer")
    answers = {"first_name": "Ann\u0000", "email": "ann@example.org", "message": "Hi"}
    response = await intake.post_json("nul-answer", answers)
    [error] = refused(response, "body", "first_name")
    assert error["type"] == "string_control_character"
