"""case-svc running for real (see casestream.testing.harness), set up as the demo is: its
statuses, the ``cases`` instance and the general_enquiry case type.

``service`` is the session's app (it knows OTHER_TOKENS too): tests on it keep apart by
their own cases, contacts, case types and instances (``unique`` names), and read only the
events about those. A module whose tests need a data set of their own (exact lists and
counts of everything) starts one database for the module with ``case_service``."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

import case_svc
from case_svc.config import Settings
from case_svc.main import create_app
from casestream.settings import StaffToken
from casestream.testing.harness import ServiceHarness, start_service
from casestream.testing.services import ADMIN, STAFF_TOKEN

MIGRATIONS = Path(case_svc.__file__).parent / "migrations"

DEMO_STATUSES = [
    {"name": "open", "label": "Open", "grouping": "opened", "weight": 1},
    {"name": "resolved", "label": "Resolved", "grouping": "closed", "weight": 3},
]
DEMO_INSTANCE = {
    "name": "cases",
    "label": "Cases",
    "singular_label": "Case",
    "instance_type": "case_management",
}
DEMO_CASE_TYPE = {
    "title": "General enquiry",
    "instance": "cases",
    "definition": {
        "statuses": ["open", "resolved"],
        "activity_types": ["open_case", "follow_up_call"],
        "activity_sets": [
            {
                "name": "standard_timeline",
                "label": "Standard timeline",
                "timeline": True,
                "activities": [
                    {"type": "open_case", "status": "completed"},
                    {"type": "follow_up_call", "offset_days": 7},
                ],
            }
        ],
        "roles": [{"name": "case_coordinator", "manager": True, "creator": True}],
        "custom_fields": [{"name": "ward", "label": "Ward", "type": "text"}],
    },
}

# Tokens besides the admin one, for permission tests; AS["clerk"] are its headers.
OTHER_TOKENS = {
    "clerk-token": StaffToken(user="clerk", rights=["cases:cases:own", "add_cases"]),
    "colleague-token": StaffToken(user="colleague", rights=["cases:cases:own", "add_cases"]),
    "manager-token": StaffToken(user="manager", rights=["cases:*:all", "add_cases"]),
    "nobody-token": StaffToken(user="nobody", rights=[]),
}
AS = {t.user: {"Authorization": f"Bearer {token}"} for token, t in OTHER_TOKENS.items()}

CaseService = ServiceHarness[Settings]


def unique(word: str) -> str:
    """``word`` with a random suffix: a name (case type, instance, email part) of the test's
    own on the session's app."""
    return f"{word}_{uuid.uuid4().hex[:8]}"


@asynccontextmanager
async def case_service(
    create_database: Any,
    kafka_bootstrap: str,
    *,
    demo: bool = True,
    tokens: dict[str, StaffToken] | None = None,
    app: Any = create_app,
    **overrides: Any,
) -> AsyncIterator[CaseService]:
    """case-svc with a database of its own; its client sends the admin's token. ``demo``:
    set up as the demo is; ``tokens``: staff tokens besides the admin's and OTHER_TOKENS;
    ``app``: what makes the app from its settings."""
    async with start_service(
        app,
        Settings,
        MIGRATIONS,
        create_database,
        kafka_bootstrap,
        name="case",
        staff=True,
        staff_tokens={STAFF_TOKEN: ADMIN, **OTHER_TOKENS, **(tokens or {})},
        **overrides,
    ) as service:
        if demo:
            client = service.client
            for status in DEMO_STATUSES:
                assert (await client.post("/case-statuses", json=status)).status_code == 201
            assert (await client.post("/instances", json=DEMO_INSTANCE)).status_code == 201
            response = await client.put("/case-types/general_enquiry", json=DEMO_CASE_TYPE)
            assert response.status_code == 201, response.text
        yield service


@pytest.fixture(scope="session")
async def service(create_database: Any, kafka_bootstrap: str) -> AsyncIterator[CaseService]:
    async with case_service(create_database, kafka_bootstrap) as service:
        yield service
