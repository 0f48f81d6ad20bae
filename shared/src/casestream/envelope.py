"""The one envelope every message travels in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from casestream.tracing import current_causation_id, current_correlation_id

DataT = TypeVar("DataT")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel, Generic[DataT]):
    """``subject`` is the partition key (the case id for everything about a case), so one
    case's messages stay in order. ``data`` carries the full state of the thing, so consumers
    never call back."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    version: int = 1
    occurred_at: datetime = Field(default_factory=utcnow)
    source: str
    subject: str
    correlation_id: str
    causation_id: str | None = None
    data: DataT


def new_envelope(
    *,
    type: str,
    source: str,
    subject: str,
    data: Any,
    id: uuid.UUID | None = None,
    version: int = 1,
) -> Envelope[Any]:
    """An envelope for a message caused by the work at hand: it inherits that work's
    correlation id and names the message being handled as its cause."""
    return Envelope[Any](
        id=id or uuid.uuid4(),
        type=type,
        version=version,
        source=source,
        subject=subject,
        correlation_id=current_correlation_id() or str(uuid.uuid4()),
        causation_id=current_causation_id(),
        data=data.model_dump(mode="json") if isinstance(data, BaseModel) else data,
    )
