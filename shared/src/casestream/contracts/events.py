"""What every event topic shares: the event types it carries.

An event topic's envelope (``EventEnvelope`` with the topic's ``TYPES``) refuses any other
``type``, as a command envelope refuses an unknown command: a consumer then dead-letters the
message as invalid (``<topic>.dlq``, ``dlq-reason: invalid message``) rather than handling
what it does not know. An event type a newer producer adds is therefore not lost: it waits
in the dead-letter topic, to be replayed once its consumers know it. So an owner adds a new
type to its topic's ``TYPES`` (and deploys the consumers) before it publishes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import field_validator
from pydantic_core import PydanticCustomError

from casestream.envelope import Envelope

EventT = TypeVar("EventT")


def event_types(*types: str) -> frozenset[str]:
    """A topic's event types (each once)."""
    found = frozenset(types)
    if len(found) != len(types):
        raise ValueError("an event type is named twice")
    return found


class EventEnvelope(Envelope[EventT], Generic[EventT]):
    """An envelope on an event topic: ``type`` must be one of ``TYPES``. Subclasses name
    their topic's data model (``EventEnvelope[CaseEvent]``) and set ``TYPES``."""

    TYPES: ClassVar[frozenset[str]] = frozenset()

    @field_validator("type")
    @classmethod
    def _a_known_type(cls, value: str) -> str:
        if value not in cls.TYPES:
            raise PydanticCustomError(
                "unknown_event_type",
                "unknown event type {kind}; one of {known}",
                {"kind": repr(value), "known": ", ".join(_sorted(cls.TYPES))},
            )
        return value

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> Any:
        """Document the types it carries (AsyncAPI shows them)."""
        schema = handler(core_schema)
        properties = handler.resolve_ref_schema(schema).get("properties", {})
        if "type" in properties:
            properties["type"]["enum"] = _sorted(cls.TYPES)
        return schema


def _sorted(types: Iterable[str]) -> list[str]:
    return sorted(types)
