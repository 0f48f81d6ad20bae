"""case-svc says: ``case.events``, ``contact.events``, ``casetype.events``."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from casestream.envelope import Envelope

CASE_OPENED = "case.opened"
CONTACT_CREATED = "contact.created"
CONTACT_UPDATED = "contact.updated"
CASETYPE_VERSION_PUBLISHED = "casetype.version_published"


class Change(BaseModel):
    before: Any = None
    after: Any = None


class ContactState(BaseModel):
    id: uuid.UUID
    contact_type: Literal["individual", "organization"] = "individual"
    first_name: str | None = None
    last_name: str | None = None
    display_name: str | None = None
    email: str | None = None
    phone: str | None = None
    do_not_email: bool = False


class RoleState(BaseModel):
    role: str
    contact_id: uuid.UUID
    start_date: date | None = None
    end_date: date | None = None


class CaseState(BaseModel):
    """The full state of a case, as every case event carries it."""

    id: uuid.UUID
    instance: str
    case_type: str
    case_type_version: int
    subject: str
    details: str | None = None
    status: str
    status_class: Literal["opened", "closed"]
    active: bool
    assignee: str | None = None
    clients: list[ContactState]
    roles: list[RoleState] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    custom: dict[str, Any] = Field(default_factory=dict)
    start_date: date
    end_date: date | None = None
    next_activity_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    version: int


class CaseOrigin(BaseModel):
    """Where a case came from, so the source can follow it (a web form submission)."""

    submission_id: uuid.UUID | None = None
    form: str | None = None


class CaseEvent(BaseModel):
    case: CaseState
    changes: dict[str, Change] = Field(default_factory=dict)
    actor: str | None = None
    origin: CaseOrigin | None = None


class ContactEvent(BaseModel):
    contact: ContactState
    changes: dict[str, Change] = Field(default_factory=dict)


class TimelineActivity(BaseModel):
    type: str
    status: Literal["scheduled", "completed"] = "scheduled"
    subject: str | None = None
    offset_days: int = 0
    reference: str = "case_start"


class ActivitySet(BaseModel):
    name: str
    label: str
    timeline: bool = True
    activities: list[TimelineActivity] = Field(default_factory=list)


class CaseRole(BaseModel):
    name: str
    manager: bool = False
    creator: bool = False


class CustomField(BaseModel):
    name: str
    label: str
    type: str = "text"
    required: bool = False
    options: list[str] | None = None
    default: Any = None


class CaseTypeDefinition(BaseModel):
    statuses: list[str] = Field(default_factory=list)
    activity_types: list[str] = Field(default_factory=list)
    activity_sets: list[ActivitySet] = Field(default_factory=list)
    roles: list[CaseRole] = Field(default_factory=list)
    custom_fields: list[CustomField] = Field(default_factory=list)

    def standard_timeline(self) -> ActivitySet | None:
        """The activity set scheduled when a case opens: the one named ``standard_timeline``,
        else the first timeline."""
        timelines = [s for s in self.activity_sets if s.timeline]
        named = [s for s in timelines if s.name == "standard_timeline"]
        return (named or timelines or [None])[0]


class CaseTypeVersion(BaseModel):
    name: str
    title: str
    instance: str
    description: str | None = None
    active: bool = True
    version: int
    definition: CaseTypeDefinition


CaseEnvelope = Envelope[CaseEvent]
ContactEnvelope = Envelope[ContactEvent]
CaseTypeEnvelope = Envelope[CaseTypeVersion]
