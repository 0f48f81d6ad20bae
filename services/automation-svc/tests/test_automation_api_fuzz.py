"""Bad input never gives a 5xx (issue 12): schemathesis over every operation of
automation-svc's API (``casestream.testing.fuzz``), and such inputs refused as 422 naming
the field."""

from __future__ import annotations

from typing import Any

from automation_svc.config import Settings
from automation_svc.main import create_app
from casestream.testing.fuzz import assert_no_server_error, refused
from casestream.testing.harness import service_fixture
from casestream.testing.services import STAFF_HEADERS

from .conftest import MIGRATIONS

# An app of its own (what the fuzzer creates stays out of the session's), HTTP only.
fuzzed = service_fixture(
    create_app, Settings, MIGRATIONS, scope="module", name="automation_fuzz", lifespan=False
)


async def test_no_input_gives_a_server_error(fuzzed: Any) -> None:
    await assert_no_server_error(fuzzed)


async def test_unstorable_rule_parts_are_refused_naming_them(fuzzed: Any) -> None:
    rule = {
        "name": "nul\u0000",
        "trigger": {"event": "case.opened"},
        "conditions": [{"field": "case.subject", "op": "eq", "value": "x\u0000"}],
        "actions": [{"type": "add_tag", "tags": ["late"], "delay": "P9999999D"}],
    }
    response = await fuzzed.client.post("/rules", json=rule, headers=STAFF_HEADERS)
    refused(response, "body", "name")
    refused(response, "body", "conditions", 0, "value")
    refused(response, "body", "actions", 0, "add_tag", "delay")
