"""What the HTTP API takes and gives: form definitions and submission states."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from casestream.contracts.inputs import Line, Text

FieldType = Literal[
    "text", "textarea", "email", "phone", "number", "date", "select", "multiselect", "checkbox"
]
MAPPED_TARGETS = (
    "contact.first_name",
    "contact.last_name",
    "contact.email",
    "contact.phone",
    "case.subject",
    "case.details",
    "activity.details",
)
CUSTOM_TARGET = re.compile(r"^case\.custom\.[a-z][a-z0-9_]{0,62}$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
DEFAULT_MAX_LENGTH = 5000


class FormField(BaseModel):
    # Lower-case identifiers: a leading underscore is reserved for the page's own inputs.
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    label: Line = Field(min_length=1, max_length=500)
    type: FieldType = "text"
    required: bool = False
    options: list[Line] | None = None
    maps_to: Line | None = None
    help: Text | None = Field(default=None, max_length=1000)
    max_length: int = Field(default=DEFAULT_MAX_LENGTH, ge=1, le=DEFAULT_MAX_LENGTH)

    @field_validator("maps_to")
    @classmethod
    def _known_target(cls, target: str | None) -> str | None:
        if target is None or target in MAPPED_TARGETS or CUSTOM_TARGET.match(target):
            return target
        raise ValueError(f"must be one of {', '.join(MAPPED_TARGETS)} or case.custom.<name>")

    @model_validator(mode="after")
    def _options_for_choices(self) -> FormField:
        if self.type in ("select", "multiselect"):
            if not self.options:
                raise ValueError(f"a {self.type} field needs options")
            if len(set(self.options)) != len(self.options):
                raise ValueError("options must be unique")
        return self


class FormDefinition(BaseModel):
    """The body of ``PUT /forms/{slug}``."""

    title: Line = Field(min_length=1, max_length=500)
    case_type: Line = Field(min_length=1, max_length=200)
    fields: list[FormField] = Field(min_length=1, max_length=100)
    # "email": match the contact by email; "email_or_name_phone": failing that, by first and
    # last name and phone (case-svc applies it).
    duplicate_contact_rule: Literal["email", "email_or_name_phone"] = "email"
    existing_open_case: Literal["new_case", "add_activity"] = "new_case"
    success_url: Line | None = Field(default=None, max_length=2000)
    allowed_origins: list[Annotated[Line, Field(max_length=300)]] = Field(
        default_factory=list, max_length=50
    )
    enabled: bool = True

    @field_validator("success_url")
    @classmethod
    def _redirectable(cls, url: str | None) -> str | None:
        if url is None or re.match(r"^(https?://[^\s]+|/[^\s]*)$", url):
            return url
        raise ValueError("must be an http(s) URL or a path starting with /")

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if not re.match(r"^https?://[^/\s]+$", origin):
                raise ValueError(f"{origin!r} is not an origin like https://example.org")
        return [o.lower() for o in origins]


class Form(FormDefinition):
    slug: str
    url: str
    created_at: datetime
    updated_at: datetime


SubmissionStatus = Literal["received", "case_opened", "attached", "rejected"]
ContactOutcome = Literal["created", "matched"]


class SubmissionState(BaseModel):
    """What the submitter may see through the unguessable status URL: the case reference
    once there is one, and why it was rejected if it was."""

    id: uuid.UUID
    form: str
    status: SubmissionStatus
    case_id: uuid.UUID | None = None
    reason: str | None = None
    received_at: datetime
    updated_at: datetime


class Submission(SubmissionState):
    """What staff see."""

    values: dict[str, object]
    contact_id: uuid.UUID | None = None
    contact_outcome: ContactOutcome | None = None
    attempt: int = 1
    suspected_bot: bool = False
    idempotency_key: str | None = None

    def public(self) -> SubmissionState:
        state = SubmissionState.model_validate(self.model_dump())
        if self.suspected_bot:
            # Answered as if accepted: the status must not tell the bot otherwise.
            return state.model_copy(update={"status": "received", "reason": None})
        return state


class Accepted(BaseModel):
    submission_id: uuid.UUID
    status_url: str
