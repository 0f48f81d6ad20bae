"""Typed custom fields: checking a case type's field definitions, and checking and normalising
the values a case stores for them. Everything here is pure except the contact lookup behind
``contact_reference`` fields."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email

from case_svc.tables import contacts
from casestream.commands import invalid
from casestream.contracts.case import CustomField
from casestream.persistence.database import Transaction

CHOICE_TYPES = ("select", "multiselect")
FIELD_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
MAX_NAME = 63  # intake-svc's form mappings (case.custom.<name>) allow 63 characters
MAX_TEXT = 10_000
# intake-svc's phone rule also lets dots and slashes through; refusing them here would
# dead-letter submissions that form accepted.
PHONE = re.compile(r"^\+?[0-9 ()./-]+$")
MAX_PHONE = 30
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MONEY = re.compile(r"^-?\d+(\.\d+)?$")
CENTS = Decimal("0.01")


class BadValue(ValueError):
    """A value that is not one of its field's type; the message names the field."""


def check_definition_fields(fields: list[CustomField]) -> None:
    """Refuse (422 naming the field and attribute) custom field definitions a case type
    cannot use."""
    seen: set[str] = set()
    for i, field in enumerate(fields):
        problem = _definition_problem(field, seen)
        if problem:
            attr, message = problem
            raise invalid(("body", "definition", "custom_fields", str(i), attr), message)
        seen.add(field.name)


def _definition_problem(field: CustomField, seen: set[str]) -> tuple[str, str] | None:
    if len(field.name) > MAX_NAME or not FIELD_NAME.match(field.name):
        return "name", f"{field.name!r} must be lower_snake_case, like visit_date"
    if field.name in seen:
        return "name", f"there is already a custom field named {field.name!r}"
    if not field.label.strip():
        return "label", f"custom field {field.name!r} needs a label"
    if field.type not in CHECKS:
        return "type", f"{field.label}: the type must be one of: {', '.join(CHECKS)}"
    options = field.options or []
    if field.type in CHOICE_TYPES:
        if not options or any(not option.strip() for option in options):
            return "options", f"{field.label}: a {field.type} field needs options (not blank)"
        if len(set(options)) != len(options):
            return "options", f"{field.label}: options must be unique"
    elif options:
        return "options", f"{field.label}: only select and multiselect fields have options"
    if not is_blank(field.default):
        try:
            normalised(field, field.default)
        except BadValue as error:
            return "default", f"the default is not valid: {error}"
    return None


async def validated_custom(
    tx: Transaction,
    fields: list[CustomField],
    given: dict[str, Any],
    *,
    current: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The custom values to store. Opening (``current`` None): defaults fill the fields not
    given, and every required field must end with a value. Editing: ``given`` is merged over
    ``current``; a blank value (null, "", []) clears its field, unless the field is required.
    """
    by_name = {f.name: f for f in fields}
    for name in given:
        if name not in by_name:
            raise invalid(("body", "custom", name), f"the case type has no custom field {name!r}")
    updates = {name: value for name, value in given.items() if not is_blank(value)}
    if current is None:
        defaults = {f.name: f.default for f in fields if not is_blank(f.default)}
        updates = defaults | updates
    values = {k: v for k, v in (current or {}).items() if k not in given} | updates
    for name, field in by_name.items():
        if field.required and name not in values:
            clearing = current is not None and name in given
            why = "it cannot be cleared" if clearing else "give a value"
            raise invalid(("body", "custom", name), f"{field.label} is required; {why}")
    for name, value in updates.items():
        values[name] = await _checked(tx, by_name[name], value)
    return values


async def _checked(tx: Transaction, field: CustomField, value: Any) -> Any:
    try:
        value = normalised(field, value)
    except BadValue as error:
        raise invalid(("body", "custom", field.name), str(error)) from None
    if field.type == "contact_reference":
        await _ensure_live_contact(tx, field, value)
    return value


async def _ensure_live_contact(tx: Transaction, field: CustomField, contact_id: str) -> None:
    query = sa.select(contacts.c.merged_into).where(contacts.c.id == uuid.UUID(contact_id))
    row = (await tx.session.execute(query)).first()
    loc = ("body", "custom", field.name)
    if row is None:
        raise invalid(loc, f"{field.label} must be an existing contact; {contact_id} is not one")
    if row.merged_into is not None:
        raise invalid(
            loc, f"{field.label}: contact {contact_id} was merged into {row.merged_into}; use that"
        )


def is_blank(value: Any) -> bool:
    """No value: what web forms send for a field left empty."""
    return value is None or value == [] or (isinstance(value, str) and not value.strip())


def normalised(field: CustomField, value: Any) -> Any:
    """``value`` as stored for ``field`` (a non-blank value), or BadValue saying what was
    expected. Contact references are only checked for their form here."""
    check = CHECKS.get(field.type)
    if check is None:  # a definition stored before its fields were checked
        raise BadValue(f"{field.label} has the unknown type {field.type!r}")
    return check(field, value)


def _expected(field: CustomField, what: str) -> BadValue:
    return BadValue(f"{field.label} must be {what}")


def _text(field: CustomField, value: Any) -> str:
    if not isinstance(value, str):
        raise _expected(field, "text")
    if len(value) > MAX_TEXT:
        raise _expected(field, f"at most {MAX_TEXT} characters (it has {len(value)})")
    return value


def _number(field: CustomField, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _expected(field, "a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise _expected(field, "a finite number")
    return value


def _money(field: CustomField, value: Any) -> str:
    expected = _expected(field, "an amount with at most 2 decimal places, like 12.50")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise expected
    text = repr(value) if isinstance(value, float) else str(value).strip()
    if isinstance(value, str) and not MONEY.match(text):
        raise expected
    try:
        amount = Decimal(text)
        cents = amount.quantize(CENTS)
    except InvalidOperation:
        raise expected from None
    if cents != amount:
        raise expected
    return str(cents if cents else CENTS * 0)  # never "-0.00"


def _date(field: CustomField, value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    try:
        if ISO_DATE.match(text):
            return date.fromisoformat(text).isoformat()
    except ValueError:
        pass  # a day the calendar does not have, like 2023-02-30
    raise _expected(field, "a date as YYYY-MM-DD")


def _datetime(field: CustomField, value: Any) -> str:
    expected = _expected(field, "a date and time with an offset, like 2024-05-01T09:30:00+02:00")
    try:
        moment = datetime.fromisoformat(value.strip())
    except (AttributeError, ValueError):
        raise expected from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise expected
    # The same form pydantic gives every other time in the API.
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _boolean(field: CustomField, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _expected(field, "true or false")
    return value


def _select(field: CustomField, value: Any) -> str:
    if value not in (field.options or []):
        raise _expected(field, f"one of: {', '.join(field.options or [])}")
    return value


def _multiselect(field: CustomField, value: Any) -> list[str]:
    options = field.options or []
    expected = _expected(field, f"a list of distinct choices from: {', '.join(options)}")
    if not isinstance(value, list) or len(set(map(repr, value))) != len(value):
        raise expected
    if any(choice not in options for choice in value):
        raise expected
    return [option for option in options if option in value]  # in the definition's order


def _email(field: CustomField, value: Any) -> str:
    if not isinstance(value, str):
        raise _expected(field, "an email address")
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise _expected(field, f"an email address ({error})") from None


def _phone(field: CustomField, value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    digits = sum(c.isdigit() for c in text)
    if len(text) > MAX_PHONE or not PHONE.match(text) or digits < 5:
        raise _expected(
            field, f"a phone number: at least 5 digits, spaces, + - ( ), at most {MAX_PHONE} long"
        )
    return text


def _url(field: CustomField, value: Any) -> str:
    expected = _expected(field, "a web address starting with http:// or https://")
    text = value.strip() if isinstance(value, str) else ""
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError:
        raise expected from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise expected
    if any(c.isspace() for c in text) or len(text) > 2000:
        raise expected
    return text


def _contact_reference(field: CustomField, value: Any) -> str:
    try:
        return str(uuid.UUID(value))
    except (AttributeError, TypeError, ValueError):
        raise _expected(field, "the id (a UUID) of a contact") from None


CHECKS: dict[str, Callable[[CustomField, Any], Any]] = {
    "text": _text,
    "number": _number,
    "money": _money,
    "date": _date,
    "datetime": _datetime,
    "boolean": _boolean,
    "select": _select,
    "multiselect": _multiselect,
    "email": _email,
    "phone": _phone,
    "url": _url,
    "contact_reference": _contact_reference,
}
