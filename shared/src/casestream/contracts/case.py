"""case-svc says: ``case.events``, ``contact.events``, ``casetype.events``."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from casestream.contracts.commands import Command, CommandEnvelope, registry
from casestream.contracts.events import EventEnvelope, event_types
from casestream.contracts.inputs import Int32, JsonObject, JsonValue, Line, Text

CASE_OPENED = "case.opened"
CASE_UPDATED = "case.updated"  # subject, details, custom values, opportunity, clients
CASE_ASSIGNED = "case.assigned"  # take, requeue (assignee None) and assign
CASE_STATUS_CHANGED = "case.status_changed"
CASE_TRANSFERRED = "case.transferred"  # to another case type (and maybe instance)
CASE_CLOSED = "case.closed"
CASE_REOPENED = "case.reopened"
CASE_ROLE_ADDED = "case.role_added"
CASE_ROLE_ENDED = "case.role_ended"
CASE_TAGGED = "case.tagged"  # tags added or removed
CASE_LINKED = "case.linked"
CASE_MERGED = "case.merged"  # this case was merged into another (it is closed, merged_into set)
# A web form submission was added to this (open) case instead of opening a new one; the
# origin carries the submission and its activity details.
CASE_SUBMISSION_ATTACHED = "case.submission_attached"
CASE_EVENT_TYPES = (
    CASE_OPENED,
    CASE_UPDATED,
    CASE_ASSIGNED,
    CASE_STATUS_CHANGED,
    CASE_TRANSFERRED,
    CASE_CLOSED,
    CASE_REOPENED,
    CASE_ROLE_ADDED,
    CASE_ROLE_ENDED,
    CASE_TAGGED,
    CASE_LINKED,
    CASE_MERGED,
    CASE_SUBMISSION_ATTACHED,
)
CONTACT_CREATED = "contact.created"
CONTACT_UPDATED = "contact.updated"
CONTACT_MERGED = "contact.merged"  # data.contact is the survivor; merged_contact_id the other
CASETYPE_VERSION_PUBLISHED = "casetype.version_published"
CONTACT_EVENT_TYPES = (CONTACT_CREATED, CONTACT_UPDATED, CONTACT_MERGED)
CASETYPE_EVENT_TYPES = (CASETYPE_VERSION_PUBLISHED,)


class Change(BaseModel):
    before: Any = None
    after: Any = None


class ContactState(BaseModel):
    id: uuid.UUID
    merged_into: uuid.UUID | None = None
    contact_type: Literal["individual", "organization"] = "individual"
    first_name: str | None = None
    last_name: str | None = None
    display_name: str | None = None
    email: str | None = None
    phone: str | None = None
    do_not_email: bool = False


class RoleState(BaseModel):
    id: uuid.UUID | None = None
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
    opportunity: dict[str, Any] | None = None
    start_date: date
    end_date: date | None = None
    outcome: str | None = None
    lost_reason: str | None = None
    linked_case_ids: list[uuid.UUID] = Field(default_factory=list)
    merged_into: uuid.UUID | None = None
    created_by: str | None = None
    next_activity_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    version: int


class CaseOrigin(BaseModel):
    """Where a case came from, so the source can follow it (a web form submission)."""

    submission_id: uuid.UUID | None = None
    form: str | None = None
    # What the form mapped to the first activity's details (activity-svc logs it).
    activity_details: str | None = None


class CaseEvent(BaseModel):
    case: CaseState
    changes: dict[str, Change] = Field(default_factory=dict)
    actor: str | None = None
    origin: CaseOrigin | None = None


class ContactEvent(BaseModel):
    contact: ContactState
    changes: dict[str, Change] = Field(default_factory=dict)
    merged_contact_id: uuid.UUID | None = None


# How far a timeline's activity may fall from its reference: a century either way.
MAX_OFFSET_DAYS = 36_600


class TimelineActivity(BaseModel):
    type: Line
    status: Literal["scheduled", "completed"] = "scheduled"
    subject: Line | None = None
    offset_days: int = Field(default=0, ge=-MAX_OFFSET_DAYS, le=MAX_OFFSET_DAYS)
    reference: Line = "case_start"


class ActivitySet(BaseModel):
    """A timeline (``timeline``: scheduled when a case opens if it is the standard one, else
    applied by hand). ``sequence``: schedule each activity only when the one before completes."""

    name: Line
    label: Line
    timeline: bool = True
    sequence: bool = False
    activities: list[TimelineActivity] = Field(default_factory=list)


class CaseRole(BaseModel):
    name: Line
    manager: bool = False
    creator: bool = False


class CustomField(BaseModel):
    name: Line
    label: Line
    type: Line = "text"
    required: bool = False
    options: list[Line] | None = None
    default: JsonValue = None


class CaseTypeDefinition(BaseModel):
    """``on_close``: what happens to a case's still-scheduled activities when it closes."""

    statuses: list[Line] = Field(default_factory=list)
    activity_types: list[Line] = Field(default_factory=list)
    activity_sets: list[ActivitySet] = Field(default_factory=list)
    roles: list[CaseRole] = Field(default_factory=list)
    custom_fields: list[CustomField] = Field(default_factory=list)
    on_close: Literal["keep", "cancel"] = "keep"

    def standard_timeline(self) -> ActivitySet | None:
        """The activity set scheduled when a case opens: the one named ``standard_timeline``,
        else the first timeline."""
        timelines = [s for s in self.activity_sets if s.timeline]
        named = [s for s in timelines if s.name == "standard_timeline"]
        return next(iter(named or timelines), None)


class CaseTypeVersion(BaseModel):
    name: str
    title: str
    instance: str
    description: str | None = None
    active: bool = True
    version: int
    definition: CaseTypeDefinition


class CaseEnvelope(EventEnvelope[CaseEvent]):
    """``case.events``: one of ``CASE_EVENT_TYPES``."""

    TYPES: ClassVar[frozenset[str]] = event_types(*CASE_EVENT_TYPES)


class ContactEnvelope(EventEnvelope[ContactEvent]):
    """``contact.events``: one of ``CONTACT_EVENT_TYPES``."""

    TYPES: ClassVar[frozenset[str]] = event_types(*CONTACT_EVENT_TYPES)


class CaseTypeEnvelope(EventEnvelope[CaseTypeVersion]):
    """``casetype.events``: ``casetype.version_published``."""

    TYPES: ClassVar[frozenset[str]] = event_types(*CASETYPE_EVENT_TYPES)


# Commands internal apps (and automation-svc) send on case.commands, keyed by case id: one
# model per type (below). They go through the same handlers and checks as the HTTP API; one
# that can never succeed, or that does not validate, ends in case.commands.dlq with the reason.
OPEN_CASE = "case.open"
CHANGE_CASE_STATUS = "case.change_status"
ASSIGN_CASE = "case.assign"
ADD_CASE_ROLE = "case.add_role"
CLOSE_CASE = "case.close"
ADD_CASE_TAGS = "case.add_tags"
CASE_COMMAND_TYPES = (
    OPEN_CASE,
    CHANGE_CASE_STATUS,
    ASSIGN_CASE,
    ADD_CASE_ROLE,
    CLOSE_CASE,
    ADD_CASE_TAGS,
)


class ContactFields(BaseModel):
    """What may change on a contact (case-svc's ``PATCH /contacts/{id}``): its type stays."""

    model_config = ConfigDict(extra="forbid")

    first_name: Line | None = Field(default=None, max_length=200)
    last_name: Line | None = Field(default=None, max_length=200)
    display_name: Line | None = Field(default=None, max_length=400)
    email: EmailStr | None = None
    phone: Line | None = Field(default=None, max_length=50)
    do_not_email: bool = False


class ContactInput(ContactFields):
    """A contact as given (case-svc's ``POST /contacts`` body, and a new case's client)."""

    contact_type: Literal["individual", "organization"] = "individual"


class OpportunityInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Line | None = Field(
        default=None, max_length=50, description='a decimal string, e.g. "1200.00"'
    )
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    probability: Int32 | None = Field(default=None, ge=0, le=100)
    expected_close_date: date | None = None


class NewCase(BaseModel):
    """A case to open: the body of case-svc's ``POST /cases`` and of ``case.open``."""

    model_config = ConfigDict(extra="forbid")

    case_type: Line
    subject: Line = Field(min_length=1, max_length=500)
    details: Text | None = Field(default=None, max_length=50_000)
    client_ids: list[uuid.UUID] = Field(default_factory=list)
    client: ContactInput | None = None
    status: Line | None = None
    start_date: date | None = None
    custom: JsonObject = Field(default_factory=dict)
    opportunity: OpportunityInput | None = None


class CaseCommandBase(Command):
    """``actor`` names who asks (recorded in the case's history)."""

    actor: Line


class OnCase(CaseCommandBase):
    """A command on an existing case; ``expected_version``: refuse if the case changed."""

    case_id: uuid.UUID
    expected_version: Int32 | None = None


class OpenCase(CaseCommandBase):
    command_type: ClassVar[str] = OPEN_CASE

    case: NewCase


class ChangeCaseStatus(OnCase):
    command_type: ClassVar[str] = CHANGE_CASE_STATUS

    status: Line


class AssignCase(OnCase):
    """``user`` None puts the case back in the pool."""

    command_type: ClassVar[str] = ASSIGN_CASE

    user: Line | None = None


class AddCaseRole(OnCase):
    command_type: ClassVar[str] = ADD_CASE_ROLE

    role: Line
    contact_id: uuid.UUID


class CloseCase(OnCase):
    """``status``: which closed status (None: as for ``POST /cases/{id}/close``)."""

    command_type: ClassVar[str] = CLOSE_CASE

    status: Line | None = None
    outcome: Line | None = None
    lost_reason: Line | None = None


class AddCaseTags(OnCase):
    """Only adds: tags the case has already are no error."""

    command_type: ClassVar[str] = ADD_CASE_TAGS

    tags: list[Line] = Field(min_length=1)


CaseCommandData = OpenCase | ChangeCaseStatus | AssignCase | AddCaseRole | CloseCase | AddCaseTags
CASE_COMMAND_MODELS = registry(
    OpenCase, ChangeCaseStatus, AssignCase, AddCaseRole, CloseCase, AddCaseTags
)


class CaseCommandEnvelope(CommandEnvelope[CaseCommandData]):
    """``case.commands``: ``data`` is the model its ``type`` names (``CASE_COMMAND_MODELS``)."""

    COMMANDS: ClassVar[Mapping[str, type[Command]]] = CASE_COMMAND_MODELS


# What became of a web form submission, said by case-svc on ``case.submission_outcomes``
# (keyed by submission id) so intake-svc can tell the person who posted it.
SUBMISSION_OUTCOME = "case.submission_outcome"
SUBMISSION_OUTCOME_TYPES = (SUBMISSION_OUTCOME,)


class SubmissionOutcome(BaseModel):
    submission_id: uuid.UUID
    form: str
    attempt: int = 1
    outcome: Literal["case_opened", "attached", "rejected"]
    case_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    contact: Literal["created", "matched"] | None = None
    reason: str | None = None  # why it was rejected


class SubmissionOutcomeEnvelope(EventEnvelope[SubmissionOutcome]):
    """``case.submission_outcomes``: ``case.submission_outcome``."""

    TYPES: ClassVar[frozenset[str]] = event_types(*SUBMISSION_OUTCOME_TYPES)
