"""Bad input never gives a 5xx (issue 12): schemathesis over every operation of notify-svc's
API (``casestream.testing.fuzz``), and the cases it once found, each a 422 naming the field."""

from __future__ import annotations

import uuid
from typing import Any

from casestream.testing.fuzz import assert_no_server_error, refused
from casestream.testing.harness import service_fixture
from casestream.testing.services import STAFF_HEADERS
from notify_svc.config import Settings
from notify_svc.main import create_app

from .conftest import MIGRATIONS, NotifyService

# An app of its own (what the fuzzer creates stays out of the session's), HTTP only: no
# delivery worker, so nothing is sent.
fuzzed = service_fixture(
    create_app, Settings, MIGRATIONS, scope="module", name="notify_fuzz", lifespan=False
)


async def test_no_input_gives_a_server_error(fuzzed: Any) -> None:
    await assert_no_server_error(fuzzed)


async def test_a_nul_in_an_email_is_refused_naming_it(service: NotifyService) -> None:
    email = {"case_id": str(uuid.uuid4()), "subject": "Hello\u0000", "body_text": "x\u0000"}
    response = await service.client.post("/emails", json=email, headers=STAFF_HEADERS)
    refused(response, "body", "subject")
    refused(response, "body", "body_text")


async def test_a_nul_in_a_template_is_refused_naming_it(service: NotifyService) -> None:
    template = {"subject": "Hi", "body_text": "Dear \u0000"}
    response = await service.client.put("/templates/nul_body", json=template, headers=STAFF_HEADERS)
    refused(response, "body", "body_text")
    preview = {"case_id": str(uuid.uuid4()), "activity": {"subject": "a\u0000"}}
    response = await service.client.post(
        "/templates/nul_body/preview", json=preview, headers=STAFF_HEADERS
    )
    refused(response, "body", "activity")
