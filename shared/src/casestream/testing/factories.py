"""Contract objects for tests and benches: a state or an event as its owner would say it,
with sensible defaults; pass only what a test is about (``case_state(status="resolved")``).

Every id is fresh unless given, so objects from different tests never collide."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from casestream.contracts.activity import ActivityEvent, ActivityState
from casestream.contracts.case import (
    CASE_OPENED,
    CASETYPE_VERSION_PUBLISHED,
    CaseEvent,
    CaseState,
    CaseTypeDefinition,
    CaseTypeVersion,
    Change,
    ContactState,
)
from casestream.contracts.notify import TEMPLATE_SAVED, TemplateSaved
from casestream.contracts.sales import QUOTATION_SENT, DocumentLine, QuotationState, SalesEvent
from casestream.envelope import Envelope, new_envelope


def contact_state(**changes: Any) -> ContactState:
    """A person (Ada, ada@example.org) with a fresh id."""
    values: dict[str, Any] = dict(id=uuid.uuid4(), first_name="Ada", email="ada@example.org")
    return ContactState(**{**values, **changes})


def case_state(*, at: datetime | None = None, **changes: Any) -> CaseState:
    """An open general_enquiry case (version 1, one client) with a fresh id, created ``at``
    (now by default: also its start date)."""
    at = at or datetime.now(UTC)
    values: dict[str, Any] = dict(
        id=uuid.uuid4(),
        instance="cases",
        case_type="general_enquiry",
        case_type_version=1,
        subject="Noise at night",
        status="open",
        status_class="opened",
        active=True,
        clients=[contact_state()],
        start_date=at.date(),
        created_at=at,
        updated_at=at,
        version=1,
    )
    return CaseState(**{**values, **changes})


def activity_state(
    case_id: uuid.UUID | None,
    kind: str = "initial_call",
    *,
    at: datetime | None = None,
    **changes: Any,
) -> ActivityState:
    """A scheduled activity of type ``kind`` on the case, with a fresh id, made ``at``."""
    at = at or datetime.now(UTC)
    values: dict[str, Any] = dict(
        id=uuid.uuid4(),
        case_id=case_id,
        type=kind,
        subject=kind.replace("_", " ").capitalize(),
        status="scheduled",
        created_at=at,
        updated_at=at,
    )
    return ActivityState(**{**values, **changes})


def quotation_state(
    case_id: uuid.UUID, *, at: datetime | None = None, valid_for_days: int = 30, **changes: Any
) -> QuotationState:
    """A sent quotation of one line (100.00 EUR) on the case, with a fresh id, made ``at``."""
    at = at or datetime.now(UTC)
    line = DocumentLine(
        description="Roof",
        quantity="1",
        unit_price="100.00",
        net="100.00",
        tax="0.00",
        total="100.00",
    )
    values: dict[str, Any] = dict(
        id=uuid.uuid4(),
        case_id=case_id,
        instance="cases",
        number="Q-2026-0007",
        status="sent",
        currency="EUR",
        lines=[line],
        subtotal="100.00",
        tax="0.00",
        total="100.00",
        valid_until=(at + timedelta(days=valid_for_days)).date(),
        created_at=at,
        updated_at=at,
        version=2,
    )
    return QuotationState(**{**values, **changes})


def quotation_event(state: QuotationState, event_type: str = QUOTATION_SENT) -> Envelope[Any]:
    return new_envelope(
        type=event_type,
        source="case-svc",
        subject=str(state.case_id),
        data=SalesEvent(quotation=state),
    )


def case_type_version(
    name: str = "general_enquiry",
    definition: CaseTypeDefinition | dict[str, Any] | None = None,
    *,
    version: int = 1,
    instance: str = "cases",
    title: str | None = None,
    **changes: Any,
) -> CaseTypeVersion:
    """A published version of a case type (an empty definition unless given)."""
    return CaseTypeVersion(
        name=name,
        title=title or name.replace("_", " ").capitalize(),
        instance=instance,
        version=version,
        definition=CaseTypeDefinition.model_validate(definition or {}),
        **changes,
    )


def _stamped(envelope: Envelope[Any], occurred_at: datetime | None) -> Envelope[Any]:
    if occurred_at is None:
        return envelope
    return envelope.model_copy(update={"occurred_at": occurred_at})


def case_event(
    case: CaseState,
    type: str = CASE_OPENED,
    changes: dict[str, Change] | None = None,
    occurred_at: datetime | None = None,
    **extra: Any,
) -> Envelope[Any]:
    """What case-svc says on case.events about ``case`` (``extra``: actor, origin)."""
    data = CaseEvent(case=case, changes=changes or {}, **extra)
    envelope = new_envelope(type=type, source="case-svc", subject=str(case.id), data=data)
    return _stamped(envelope, occurred_at)


def activity_event(
    activity: ActivityState,
    type: str,
    changes: dict[str, Change] | None = None,
    occurred_at: datetime | None = None,
) -> Envelope[Any]:
    """What activity-svc says on activity.events about ``activity`` (keyed by its case)."""
    data = ActivityEvent(activity=activity, changes=changes or {})
    envelope = new_envelope(
        type=type, source="activity-svc", subject=str(activity.case_id), data=data
    )
    return _stamped(envelope, occurred_at)


def case_type_published(version: CaseTypeVersion) -> Envelope[Any]:
    """What case-svc says on casetype.events when it publishes ``version``."""
    return new_envelope(
        type=CASETYPE_VERSION_PUBLISHED, source="case-svc", subject=version.name, data=version
    )


def template_saved(name: str, **changes: Any) -> Envelope[Any]:
    """What notify-svc says on notify.templates when the template ``name`` is saved."""
    values: dict[str, Any] = dict(
        name=name, subject="s", body_text="b", updated_at=datetime.now(UTC)
    )
    saved = TemplateSaved(**{**values, **changes})
    return new_envelope(type=TEMPLATE_SAVED, source="notify-svc", subject=name, data=saved)


__all__ = [
    "activity_event",
    "activity_state",
    "case_event",
    "case_state",
    "case_type_published",
    "case_type_version",
    "contact_state",
    "template_saved",
]
