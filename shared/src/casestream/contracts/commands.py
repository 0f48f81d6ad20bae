"""What every command topic shares: one typed model per command, chosen by the envelope's
``type``.

A command topic's envelope (``CommandEnvelope`` with the topic's ``COMMANDS``: type -> model)
validates ``data`` with the model its ``type`` names, so a consumer gets the typed command;
an unknown type, a missing field or one of the wrong type is a validation error (the message
is dead-lettered as invalid). Command models ignore fields they do not know, so the old
one-model-for-all shape (every parameter present, most of them null) still validates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
)
from pydantic_core import PydanticCustomError

from casestream.envelope import Envelope

CommandT = TypeVar("CommandT")


class Command(BaseModel):
    """One command's parameters. ``command_type`` is the envelope ``type`` it travels as."""

    model_config = ConfigDict(extra="ignore")

    command_type: ClassVar[str]


def registry(*models: type[Command]) -> dict[str, type[Command]]:
    """``{command type: model}`` for a topic's commands (each type once)."""
    found = {model.command_type: model for model in models}
    if len(found) != len(models):
        raise ValueError("two command models share a command type")
    return found


class CommandEnvelope(Envelope[CommandT], Generic[CommandT]):
    """An envelope on a command topic: ``data`` is validated by the model ``COMMANDS[type]``.
    Subclasses name their topic's union of models (``CommandEnvelope[A | B]``) and set
    ``COMMANDS``."""

    COMMANDS: ClassVar[Mapping[str, type[Command]]] = {}

    @field_validator("data", mode="wrap")
    @classmethod
    def _data_of_its_type(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        kind = info.data.get("type")  # absent when ``type`` itself was invalid
        model = cls.COMMANDS.get(kind) if isinstance(kind, str) else None
        if model is None:
            raise PydanticCustomError(
                "unknown_command",
                "unknown command {kind}; one of {known}",
                {"kind": repr(kind), "known": ", ".join(cls.COMMANDS)},
            )
        # A nested ValidationError keeps its locations (data.<field>).
        return model.model_validate(value, context=info.context)

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> Any:
        """Document which model ``data`` is for each ``type`` (AsyncAPI shows it)."""
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        properties = target.get("properties", {})
        if "type" in properties:
            properties["type"]["enum"] = list(cls.COMMANDS)
        choices = properties.get("data", {}).get("anyOf", [])
        refs = {handler.resolve_ref_schema(c).get("title"): c for c in choices if "$ref" in c}
        cases = [
            {
                "if": {"properties": {"type": {"const": kind}}},
                "then": {"properties": {"data": dict(refs[model.__name__])}},
            }
            for kind, model in cls.COMMANDS.items()
            if model.__name__ in refs
        ]
        if cases:
            target["allOf"] = cases
            properties["data"]["description"] = "; ".join(
                f"{kind}: {model.__name__}" for kind, model in cls.COMMANDS.items()
            )
        return schema
