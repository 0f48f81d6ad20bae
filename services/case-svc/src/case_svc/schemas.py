"""What case-svc's HTTP API accepts and answers (field names from the HTTP contract)."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from casestream.contracts.case import (
    CaseState,
    CaseTypeDefinition,
    ContactInput,
    ContactState,
    NewCase,
    OpportunityInput,
)
from casestream.contracts.inputs import Int32, JsonObject, Line, Text

Name = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$", description="lower_snake_case machine name")


class InstanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Name
    label: Line = Field(min_length=1, max_length=200)
    singular_label: Line = Field(min_length=1, max_length=200)
    instance_type: Literal["case_management", "applicant_management", "sales_opportunity"]
    features: list[Literal["quotations", "invoices"]] = Field(default_factory=list)
    description: Text | None = None
    weight: Int32 = 0
    icon: Line | None = None
    enabled: bool = True


class InstancePatch(BaseModel):
    """What may change on an instance (its name and type stay)."""

    model_config = ConfigDict(extra="forbid")

    label: Line | None = Field(default=None, min_length=1, max_length=200)
    singular_label: Line | None = Field(default=None, min_length=1, max_length=200)
    features: list[Literal["quotations", "invoices"]] | None = None
    description: Text | None = None
    weight: Int32 | None = None
    icon: Line | None = None
    enabled: bool | None = None


class Instance(InstanceIn):
    created_at: datetime


class CaseStatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Name
    label: Line = Field(min_length=1, max_length=200)
    grouping: Literal["opened", "closed"]
    weight: Int32 = 0
    probability: Int32 | None = Field(default=None, ge=0, le=100)


class CaseTypeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Line = Field(min_length=1, max_length=200)
    instance: Line
    description: Text | None = None
    active: bool = True
    definition: CaseTypeDefinition


class CaseType(CaseTypeIn):
    name: str
    version: int
    updated_at: datetime


# The bodies that case.commands' commands carry too: one definition, in the shared contract.
ContactIn = ContactInput
OpportunityIn = OpportunityInput
CaseIn = NewCase


class Contact(ContactState):
    created_at: datetime
    updated_at: datetime


class CasePatch(BaseModel):
    """Fields to change; what is left out stays. ``version``: the version you saw (409 if the
    case has changed since)."""

    model_config = ConfigDict(extra="forbid")

    subject: Line | None = Field(default=None, min_length=1, max_length=500)
    details: Text | None = Field(default=None, max_length=50_000)
    custom: JsonObject | None = None
    opportunity: OpportunityIn | None = None
    tags: list[Line] | None = None
    version: Int32 | None = None


class Case(CaseState):
    """A case as the API answers it: its full state (the same as events carry)."""


class HistoryEntry(BaseModel):
    at: datetime
    actor: str | None
    action: str
    changes: dict[str, Any]
