"""How one person is recognised across services. intake-svc keys a submission by it, so one
person's submissions reach case-svc in order; case-svc locks on it before looking the contact
up, so two of them at once make one contact. Both must fold a person the same way: these
functions are the only place that says how."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_NOT_DIGITS = re.compile(r"[^0-9]")


def email_key(email: str | None) -> str | None:
    """The email, trimmed and lowercased; None if there is none."""
    return email.strip().lower() if email and email.strip() else None


def person_key(values: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """First name, last name (trimmed, lowercased) and the phone's digits; None unless all
    three are there."""
    first, last = (_folded(values.get(name)) for name in ("first_name", "last_name"))
    digits = _NOT_DIGITS.sub("", values.get("phone") or "")
    return (first, last, digits) if first and last and digits else None


def lock_keys(values: Mapping[str, Any]) -> list[str]:
    """Every key a new contact with these values could be found by."""
    email, person = email_key(values.get("email")), person_key(values)
    keys = [f"email:{email}" if email else None, "person:" + "|".join(person) if person else None]
    return [key for key in keys if key]


def partition_key(values: Mapping[str, Any], otherwise: str) -> str:
    """The email; without one, the names and the phone's digits; without those, ``otherwise``
    (nothing to match the person by)."""
    if email := email_key(values.get("email")):
        return email
    if person := person_key(values):
        first, last, digits = person
        return f"{first} {last}|{digits}"
    return otherwise


def _folded(text: str | None) -> str | None:
    return text.strip().lower() if text and text.strip() else None
