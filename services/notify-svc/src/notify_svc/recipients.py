"""Who an email goes to: ``clients``, ``assignee`` (the case's responsible user, reached
through the staff tokens' addresses), a role name, a contact id, or a plain address, each
turned into addresses; contacts marked do-not-email are kept but suppressed."""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from casestream.settings import StaffToken

# One @, no whitespace, nothing that could end or split a header.
_ADDRESS = re.compile(r"^[^@\s<>()\[\]\\,;:\"]+@[^@\s<>()\[\]\\,;:\"]+\.[^@\s<>()\[\]\\,;:\"]+$")


@dataclass
class Recipient:
    address: str
    contact_id: str | None = None
    name: str | None = None
    suppressed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


ASSIGNEE = "assignee"


def valid_address(address: str) -> bool:
    return bool(_ADDRESS.match(address))


def contact_ids_needed(to_spec: list[str], case: dict[str, Any]) -> set[str]:
    ids = {c["id"] for c in case.get("clients", [])}
    ids |= {r["contact_id"] for r in case.get("roles", [])}
    ids |= {s for s in to_spec if _is_uuid(s)}
    return ids


def staff_directory(tokens: dict[str, StaffToken]) -> dict[str, StaffToken]:
    """Staff user -> the token that says where to reach them (one with an address first:
    a user may hold several tokens)."""
    directory: dict[str, StaffToken] = {}
    for token in tokens.values():
        if token.user not in directory or (token.email and not directory[token.user].email):
            directory[token.user] = token
    return directory


def resolve(
    to_spec: list[str],
    case: dict[str, Any],
    contacts: dict[str, dict[str, Any]],
    staff: dict[str, StaffToken] | None = None,
) -> tuple[list[Recipient], list[str]]:
    """The recipients (one per address) and what could not be resolved, with why. ``staff``
    is a ``staff_directory``."""
    found: dict[str, Recipient] = {}
    unresolved: list[str] = []
    for spec in to_spec:
        if spec == ASSIGNEE:
            recipient, why = assignee(case, staff or {})
            if recipient is None:
                unresolved.append(f"{spec!r}: {why}")
            else:
                found.setdefault(recipient.address.lower(), recipient)
            continue
        if spec == "clients":
            people = [freshest(c, contacts) for c in case.get("clients", [])]
        elif _is_uuid(spec):
            people = [contacts[spec]] if spec in contacts else []
        elif "@" in spec:
            if valid_address(spec.strip()):
                found.setdefault(spec.strip().lower(), Recipient(spec.strip()))
            else:
                unresolved.append(f"{spec!r}: not an email address")
            continue
        else:
            people = [
                contacts.get(r["contact_id"], {"id": r["contact_id"]})
                for r in active_roles(case)
                if r["role"] == spec
            ]
        if not people:
            unresolved.append(f"{spec!r}: no such contact or role on the case")
        for person in people:
            address = (person.get("email") or "").strip()
            if not valid_address(address):
                unresolved.append(f"contact {person.get('id')}: no usable email address")
                continue
            found.setdefault(
                address.lower(),
                Recipient(
                    address,
                    contact_id=str(person["id"]),
                    name=display_name(person),
                    suppressed=bool(person.get("do_not_email")),
                ),
            )
    return list(found.values()), unresolved


def assignee(case: dict[str, Any], staff: dict[str, StaffToken]) -> tuple[Recipient | None, str]:
    """The case's responsible user as a recipient, or None and why not."""
    user = case.get("assignee")
    if not user:
        return None, "the case has no assignee (it is in the pool)"
    token = staff.get(user)
    address = ((token.email if token else None) or "").strip()
    if token is None or not valid_address(address):
        return None, f"no email address known for staff user {user!r}"
    return Recipient(address, name=token.name or user), ""


def freshest(snapshot: dict[str, Any], contacts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A client as the contacts read model knows it, over the case's copy. A do-not-email
    flag in either counts: when the two disagree we would rather not send."""
    known = contacts.get(str(snapshot["id"]))
    if known is None:
        return snapshot
    refuses = bool(known.get("do_not_email") or snapshot.get("do_not_email"))
    return {**snapshot, **known, "do_not_email": refuses}


def active_roles(case: dict[str, Any]) -> list[dict[str, Any]]:
    today = date.today().isoformat()  # ISO dates compare as text
    return [r for r in case.get("roles", []) if not r.get("end_date") or r["end_date"] >= today]


def display_name(person: dict[str, Any]) -> str | None:
    if person.get("display_name"):
        return person["display_name"]
    name = " ".join(p for p in (person.get("first_name"), person.get("last_name")) if p)
    return name or None


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
