from pathlib import Path

import pytest

import case_svc
from case_svc.config import Settings
from case_svc.main import create_app
from casestream.settings import StaffToken
from casestream.testing.services import (
    STAFF_HEADERS,
    create_system_topics,
    migrated_database,
    running,
    settings_for_tests,
)

MIGRATIONS = Path(case_svc.__file__).parent / "migrations"

DEMO_STATUSES = [
    {"name": "open", "label": "Open", "grouping": "opened", "weight": 1},
    {"name": "resolved", "label": "Resolved", "grouping": "closed", "weight": 3},
]
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


@pytest.fixture
async def settings(create_database, kafka_bootstrap):
    prefix = await create_system_topics(kafka_bootstrap)
    url = await migrated_database(create_database, "case", MIGRATIONS)
    settings = settings_for_tests(
        Settings, database_url=url, kafka_bootstrap=kafka_bootstrap, topic_prefix=prefix
    )
    settings.staff_tokens |= OTHER_TOKENS
    return settings


# Tokens besides the admin one, for permission tests; AS["clerk"] are its headers.
OTHER_TOKENS = {
    "clerk-token": StaffToken(user="clerk", rights=["cases:cases:own", "add_cases"]),
    "colleague-token": StaffToken(user="colleague", rights=["cases:cases:own", "add_cases"]),
    "manager-token": StaffToken(user="manager", rights=["cases:*:all", "add_cases"]),
    "nobody-token": StaffToken(user="nobody", rights=[]),
}
AS = {t.user: {"Authorization": f"Bearer {token}"} for token, t in OTHER_TOKENS.items()}


@pytest.fixture
async def case_api(settings):
    async with running(create_app(settings)) as client:
        client.headers.update(STAFF_HEADERS)
        for status in DEMO_STATUSES:
            assert (await client.post("/case-statuses", json=status)).status_code == 201
        instance = {
            "name": "cases",
            "label": "Cases",
            "singular_label": "Case",
            "instance_type": "case_management",
        }
        assert (await client.post("/instances", json=instance)).status_code == 201
        response = await client.put("/case-types/general_enquiry", json=DEMO_CASE_TYPE)
        assert response.status_code == 201, response.text
        yield client
