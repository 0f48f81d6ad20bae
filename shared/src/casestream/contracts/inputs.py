"""Input types that cannot reach PostgreSQL badly: what an HTTP body, query, path or header
field is declared as, so that a value the database would refuse is refused first, as 422
naming the field (FastAPI's ``detail[].loc``), never a 500.

PostgreSQL refuses NUL in ``text`` and in ``jsonb`` strings, and any string that is not valid
UTF-8 (Python lets JSON's ``"\\ud800"`` through as a lone surrogate); its ``integer`` is 32
bits, ``smallint`` 16, ``bigint`` 64; ``jsonb`` has no NaN or infinity (Python's ``json``
reads ``NaN`` and ``Infinity``). So:

- ``Line``: one line of text (a name, a label, a subject, an id): no C0 control character
  but tab, no lone surrogate, at most ``LINE_MAX`` characters unless the field says less or
  more (``Field(max_length=...)``).
- ``Text``: text that may span lines (details, bodies, notes): tab, newline and carriage
  return allowed, no other C0 control character, at most ``TEXT_MAX``.
- ``Int32`` / ``SmallInt`` / ``BigInt``: the column types' ranges (a field's own ``ge``/``le``
  narrows them).
- ``JsonObject`` / ``JsonValue``: free-form JSON kept in ``jsonb``: every key and string in
  it as ``Text``, every number finite, nested at most ``JSON_MAX_DEPTH`` deep.

The JSON schema of a text type carries the pattern it keeps to, so generated clients (and
schemathesis) know. Plumbing only: what a value means is the service's business.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
SMALLINT_MIN, SMALLINT_MAX = -(2**15), 2**15 - 1
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1

# 500 characters are at most 2,000 bytes: within a btree index entry (2,704) with room to spare.
LINE_MAX = 500
TEXT_MAX = 200_000
JSON_MAX_DEPTH = 32

# What each text type refuses: control characters (as named above) and lone surrogates.
_NOT_IN_LINE = re.compile("[\x00-\x08\x0a-\x1f\ud800-\udfff]")
_NOT_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def refusal(value: str, multiline: bool = True) -> PydanticCustomError | None:
    """Why ``value`` cannot be stored as text (the error to raise), or None if it can."""
    found = (_NOT_IN_TEXT if multiline else _NOT_IN_LINE).search(value)
    if found is None:
        return None
    char = f"U+{ord(found.group()):04X}"
    if 0xD800 <= ord(found.group()) <= 0xDFFF:
        return PydanticCustomError(
            "string_unicode", "not valid Unicode (a lone surrogate, {char})", {"char": char}
        )
    allowed = "tab, newline and carriage return" if multiline else "tab"
    return PydanticCustomError(
        "string_control_character",
        "must not contain control characters (found {char}; only {allowed} allowed)",
        {"char": char, "allowed": allowed},
    )


@dataclass(frozen=True)
class StorableText:
    """Annotation of a ``str``: refuses what PostgreSQL cannot store (see ``refusal``) and
    caps the length at ``max_length`` unless the field sets its own."""

    multiline: bool
    max_length: int

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        schema = handler(source)
        if schema.get("type") == "str":
            text: Any = schema
            text.setdefault("max_length", self.max_length)
        return core_schema.no_info_after_validator_function(self.check, schema)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        target = handler.resolve_ref_schema(json_schema)
        if target.get("type") == "string":
            target.setdefault(
                "pattern",
                r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$"
                if self.multiline
                else r"^[^\x00-\x08\x0a-\x1f]*$",
            )
        return json_schema

    def check(self, value: str) -> str:
        if (error := refusal(value, self.multiline)) is not None:
            raise error
        return value


@dataclass(frozen=True)
class Bounded:
    """Annotation of an ``int``: within ``[low, high]`` (a column type's range), unless the
    field sets a narrower ``ge``/``le`` of its own."""

    low: int
    high: int

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        schema = handler(source)
        if schema.get("type") == "int":
            bounds: Any = schema
            bounds["ge"] = max(bounds.get("ge", self.low), self.low)
            bounds["le"] = min(bounds.get("le", self.high), self.high)
        return schema


Line = Annotated[str, StorableText(multiline=False, max_length=LINE_MAX)]
Text = Annotated[str, StorableText(multiline=True, max_length=TEXT_MAX)]
Int32 = Annotated[int, Bounded(INT32_MIN, INT32_MAX)]
SmallInt = Annotated[int, Bounded(SMALLINT_MIN, SMALLINT_MAX)]
BigInt = Annotated[int, Bounded(BIGINT_MIN, BIGINT_MAX)]


def storable_json(value: Any) -> Any:
    """``value`` if ``jsonb`` can keep it: its keys and strings as ``Text``, its numbers
    finite, at most ``JSON_MAX_DEPTH`` levels deep. The error says where in it (``a.b[0]``)."""
    _walk(value, "", 0)
    return value


def _walk(value: Any, where: str, depth: int) -> None:
    if depth > JSON_MAX_DEPTH:
        raise _inside(
            where,
            PydanticCustomError(
                "json_too_deep", "nested more than {depth} levels deep", {"depth": JSON_MAX_DEPTH}
            ),
        )
    if isinstance(value, str):
        if (error := refusal(value)) is not None:
            raise _inside(where, error)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _inside(where, PydanticCustomError("finite_number", "must be a finite number"))
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and (error := refusal(key)) is not None:
                raise _inside(where, error)
            _walk(item, f"{where}.{key}" if where else str(key), depth + 1)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _walk(item, f"{where}[{index}]", depth + 1)


def _inside(where: str, error: PydanticCustomError) -> PydanticCustomError:
    """``error`` said of the part ``where`` of a JSON value (nothing to add at its top)."""
    if not where:
        return error
    context = {**(error.context or {}), "where": where[:200]}
    return PydanticCustomError(error.type, "at {where}: " + error.message_template, context)


JsonObject = Annotated[dict[str, Any], AfterValidator(storable_json)]
JsonValue = Annotated[Any, AfterValidator(storable_json)]

__all__ = [
    "BIGINT_MAX",
    "BIGINT_MIN",
    "INT32_MAX",
    "INT32_MIN",
    "JSON_MAX_DEPTH",
    "LINE_MAX",
    "SMALLINT_MAX",
    "SMALLINT_MIN",
    "TEXT_MAX",
    "BigInt",
    "Bounded",
    "Int32",
    "JsonObject",
    "JsonValue",
    "Line",
    "SmallInt",
    "StorableText",
    "Text",
    "refusal",
    "storable_json",
]
