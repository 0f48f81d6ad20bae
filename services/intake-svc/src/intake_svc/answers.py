"""Checking what a visitor typed against the form's fields.

Input arrives as lists of raw values per name (HTML forms repeat names for multiple choices;
JSON gives scalars or lists). Unknown names are dropped; each known field yields a clean value
or one message.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from casestream.contracts.inputs import refusal
from intake_svc.schemas import FormField

EMAIL = re.compile(r"^[^@\s<>(),;:\"\[\]\\]+@[^@\s<>(),;:\"\[\]\\]+\.[A-Za-z0-9-]{2,}$")
PHONE = re.compile(r"^\+?[0-9 ()./-]+$")
TRUE = {"on", "true", "1", "yes"}
FALSE = {"", "off", "false", "0", "no"}


class Invalid(ValueError):
    def __init__(self, message: str, kind: str = "value_error") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Answers:
    values: dict[str, Any] = field(default_factory=dict)
    # field name -> (message, error type)
    errors: dict[str, tuple[str, str]] = field(default_factory=dict)


def check_answers(fields: list[FormField], raw: dict[str, list[Any]]) -> Answers:
    answers = Answers()
    for spec in fields:
        try:
            value = _clean(spec, [v for v in raw.get(spec.name, []) if v is not None])
        except Invalid as error:
            answers.errors[spec.name] = (str(error), error.kind)
            continue
        if value is None or value == []:
            if spec.required:
                answers.errors[spec.name] = ("This field is required.", "missing")
            continue
        if spec.type == "checkbox" and spec.required and value is not True:
            answers.errors[spec.name] = ("This box must be ticked.", "missing")
            continue
        answers.values[spec.name] = value
    return answers


def _clean(spec: FormField, items: list[Any]) -> Any:
    if spec.type == "multiselect":
        chosen = [_text(item, spec) for item in items]
        chosen = list(dict.fromkeys(c for c in chosen if c))
        for choice in chosen:
            _must_be_option(choice, spec)
        return chosen
    if spec.type == "checkbox":
        return _checkbox(items[0]) if items else False
    text = _text(items[0], spec) if items else ""
    if text == "":
        return None
    if spec.type == "email":
        if len(text) > 254 or not EMAIL.match(text):
            raise Invalid("Enter an email address like name@example.org.")
    elif spec.type == "phone":
        digits = sum(ch.isdigit() for ch in text)
        if not PHONE.match(text) or not 5 <= digits <= 20:
            raise Invalid("Enter a phone number (digits, spaces, + ( ) - . /).")
    elif spec.type == "number":
        return _number(items[0])
    elif spec.type == "date":
        return _date(text)
    elif spec.type == "select":
        _must_be_option(text, spec)
    return text


def _text(item: Any, spec: FormField) -> str:
    if isinstance(item, bool) or not isinstance(item, str | int | float):
        raise Invalid("Enter text.", "string_type")
    text = str(item).strip()
    if refusal(text) is not None:  # what PostgreSQL cannot store (NUL, other controls)
        raise Invalid("Remove the control characters.", "string_control_character")
    if len(text) > spec.max_length:
        raise Invalid(
            f"Use at most {spec.max_length} characters (you used {len(text)}).", "string_too_long"
        )
    return text


def _checkbox(item: Any) -> bool:
    if isinstance(item, bool):
        return item
    if isinstance(item, str) and item.strip().lower() in TRUE | FALSE:
        return item.strip().lower() in TRUE
    raise Invalid("Tick the box or leave it empty.", "bool_parsing")


def _number(item: Any) -> int | float:
    if isinstance(item, bool):
        raise Invalid("Enter a number.", "float_parsing")
    try:
        number = float(item)
    except (TypeError, ValueError):
        raise Invalid("Enter a number.", "float_parsing") from None
    if not math.isfinite(number):
        raise Invalid("Enter a number.", "float_parsing")
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _date(text: str) -> str:
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise Invalid("Enter a date as YYYY-MM-DD.", "date_parsing") from None


def _must_be_option(choice: str, spec: FormField) -> None:
    if choice not in (spec.options or []):
        raise Invalid("Choose one of the options offered.", "enum")
