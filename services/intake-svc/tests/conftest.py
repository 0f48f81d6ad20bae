"""intake-svc running for real (see casestream.testing.harness): one app for the session;
tests keep apart by using their own form slugs and case type names. What is truly its own:
the form bodies, posts as browsers and scripts make them, and the page's hidden inputs."""

from __future__ import annotations

import contextlib
import copy
import html
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

import intake_svc
from casestream import topics
from casestream.contracts.case import CaseTypeDefinition, CustomField
from casestream.envelope import Envelope
from casestream.persistence.database import Database
from casestream.persistence.tables import outbox
from casestream.testing.factories import case_type_published, case_type_version
from casestream.testing.harness import ServiceHarness, body, service_fixture
from casestream.testing.plugin import eventually
from casestream.testing.services import STAFF_HEADERS
from intake_svc.config import Settings
from intake_svc.main import create_app
from intake_svc.tables import case_types

MIGRATIONS = Path(intake_svc.__file__).parent / "migrations"
FORM_SECRET = "test-form-secret"

# What case-svc would announce on casetype.events; the intake fixture publishes them and
# waits until intake-svc knows them (forms are checked against them).
GENERAL_ENQUIRY = case_type_version(
    "general_enquiry",
    CaseTypeDefinition(
        custom_fields=[
            CustomField(name="topic", label="Topic", type="select", options=["billing", "other"]),
            CustomField(name="visit_date", label="Visit date", type="date"),
            CustomField(name="newsletter", label="Newsletter", type="boolean"),
            CustomField(name="budget", label="Budget", type="money"),
            CustomField(name="notes", label="Notes", type="text"),
            CustomField(
                name="interests", label="Interests", type="multiselect", options=["a", "b"]
            ),
            CustomField(name="referrer", label="Referrer", type="contact_reference"),
        ]
    ),
)
STRICT_ENQUIRY = case_type_version(
    "strict_enquiry",
    CaseTypeDefinition(
        custom_fields=[CustomField(name="ward", label="Ward", type="text", required=True)]
    ),
)

CONTACT_FORM: dict[str, Any] = {
    "title": "Contact us",
    "case_type": "general_enquiry",
    "enabled": True,
    "fields": [
        {
            "name": "first_name",
            "label": "First name",
            "type": "text",
            "required": True,
            "maps_to": "contact.first_name",
        },
        {
            "name": "last_name",
            "label": "Last name",
            "type": "text",
            "required": True,
            "maps_to": "contact.last_name",
        },
        {
            "name": "email",
            "label": "Email",
            "type": "email",
            "required": True,
            "maps_to": "contact.email",
        },
        {
            "name": "subject",
            "label": "Subject",
            "type": "text",
            "required": True,
            "maps_to": "case.subject",
        },
        {
            "name": "message",
            "label": "Message",
            "type": "textarea",
            "required": False,
            "maps_to": "case.details",
        },
        {
            "name": "topic",
            "label": "Topic",
            "type": "select",
            "options": ["billing", "other"],
            "maps_to": "case.custom.topic",
        },
    ],
    "duplicate_contact_rule": "email",
    "existing_open_case": "new_case",
    "success_url": None,
    "allowed_origins": [],
}


def contact_form(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(CONTACT_FORM), **changes}


class Intake(ServiceHarness[Settings]):
    """The harness, plus forms and posts as staff, scripts and browsers make them."""

    @property
    def submissions_topic(self) -> str:
        return self.topic(topics.INTAKE_SUBMISSIONS)

    async def put_form(self, slug: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.client.put(
            f"/forms/{slug}", json=body or contact_form(), headers=STAFF_HEADERS
        )
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def post_json(
        self, slug: str, body: dict[str, Any], key: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """A script's post: JSON with an Idempotency-Key header (so no render token)."""
        headers = {"Idempotency-Key": key or str(uuid.uuid4()), **kwargs.pop("headers", {})}
        return await self.client.post(f"/f/{slug}", json=body, headers=headers, **kwargs)

    async def page_inputs(self, slug: str) -> dict[str, str]:
        """The hidden inputs of a freshly rendered page (render token, idempotency key)."""
        page = await self.client.get(f"/f/{slug}")
        assert page.status_code == 200, page.text
        return hidden_inputs(page.text)

    async def post_page(self, slug: str, data: dict[str, Any], **kwargs: Any) -> httpx.Response:
        """What a browser does: render the page, then post the answers with its inputs."""
        inputs = await self.page_inputs(slug)
        return await self.client.post(f"/f/{slug}", data={**inputs, **data}, **kwargs)

    async def publish(self, topic: str, envelopes: list[Envelope[Any]], key: str = "") -> None:
        """Send envelopes on one of the system's topics as another service would (all on
        one partition when ``key`` is given, so they are handled in this order)."""
        for envelope in envelopes:
            await self.deliver(topic, envelope, key=key or None)

    async def learn_case_types(self) -> None:
        """Announce GENERAL_ENQUIRY and STRICT_ENQUIRY as case-svc would, and wait until
        intake-svc knows them."""
        await self.publish(
            topics.CASETYPE_EVENTS,
            [case_type_published(GENERAL_ENQUIRY), case_type_published(STRICT_ENQUIRY)],
        )
        await eventually(
            lambda: knows_case_types(self.database, {"general_enquiry": 1, "strict_enquiry": 1}),
            timeout_s=30,
        )

    async def all_published(self) -> None:
        async def nothing_pending() -> bool:
            async with self.database.session() as session:
                pending = await session.scalar(
                    sa.select(sa.func.count()).where(outbox.c.published_at.is_(None))
                )
            return pending == 0

        await eventually(nothing_pending, timeout_s=15)

    async def messages_about(self, submission_id: str) -> list[Any]:
        """The records on intake.submissions about a submission, once the outbox is empty
        (so that everything it will ever say about it is on the topic): read to its end."""
        await self.all_published()
        return await self.said_so_far(
            topics.INTAKE_SUBMISSIONS,
            match=lambda r: body(r)["data"]["submission_id"] == submission_id,
        )


def hidden_inputs(page: str) -> dict[str, str]:
    return {
        name: html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)
    }


@contextlib.contextmanager
def tightened(settings: Settings, **values: Any) -> Iterator[None]:
    """Change settings of the running app for one test (limits are read at each request)."""
    before = {name: getattr(settings, name) for name in values}
    for name, value in values.items():
        setattr(settings, name, value)
    try:
        yield
    finally:
        for name, value in before.items():
            setattr(settings, name, value)


case_type_event = case_type_published  # as the tests name it


async def knows_case_types(database: Database, expected: dict[str, int]) -> bool:
    """True once the read model holds each named case type at (at least) that version."""
    async with database.session() as session:
        rows = (await session.execute(sa.select(case_types.c.name, case_types.c.version))).all()
    known = {row.name: row.version for row in rows}
    return all(known.get(name, 0) >= version for name, version in expected.items())


intake = service_fixture(
    create_app,
    Settings,
    MIGRATIONS,
    harness=Intake,
    name="intake",
    ready=Intake.learn_case_types,
    form_secret=FORM_SECRET,
    # Tests post at machine speed from one address; the defence tests tighten these.
    form_min_seconds=0,
    rate_per_client_per_minute=100_000,
    rate_per_form_per_minute=100_000,
)
