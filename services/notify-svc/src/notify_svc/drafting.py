"""An email's draft: its case and contacts from the read model, its template rendered with
them, and its recipients resolved. Used by the delivery worker and by template previews."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from casestream.settings import StaffToken
from notify_svc.recipients import (
    Recipient,
    active_roles,
    contact_ids_needed,
    freshest,
    resolve,
)
from notify_svc.rendering import CannotRender, names_used, render, template_problem
from notify_svc.tables import cases, contacts, templates


class CaseNotKnown(LookupError):
    """The case has not reached the read model yet (its event may still be on its way)."""


@dataclass
class Draft:
    subject: str
    body_text: str | None
    body_html: str | None
    recipients: list[Recipient] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)


async def draft_email(
    session: AsyncSession,
    *,
    case_id: uuid.UUID,
    to_spec: list[str],
    template: str | None,
    inline: dict[str, str | None],
    activity: dict[str, Any] | None = None,
    staff: dict[str, StaffToken] | None = None,
) -> Draft:
    """Raises CaseNotKnown, or CannotRender (unknown template, a token that does not render).
    ``activity``: the triggering activity's state, if any; ``staff``: a staff_directory."""
    case = (await session.execute(sa.select(cases.c.state).where(cases.c.id == case_id))).scalar()
    if case is None:
        raise CaseNotKnown(str(case_id))
    parts = await _parts(session, template, inline)
    if activity is None:
        for part, source in parts.items():
            if source is not None and "activity" in names_used(source):
                raise CannotRender(f"{part}: uses activity tokens, but no activity asked for it")
    people = await _contacts(session, contact_ids_needed(to_spec, case))
    rendered = render(parts, template_context(case, people, activity))
    if not (rendered["subject"] or "").strip():
        raise CannotRender("subject: renders empty")
    recipients, unresolved = resolve(to_spec, case, people, staff)
    return Draft(
        rendered["subject"], rendered["body_text"], rendered["body_html"], recipients, unresolved
    )


def template_context(
    case: dict[str, Any],
    people: dict[str, dict[str, Any]],
    activity: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``case``, ``clients``, ``client`` (the first; absent when the case has none, so a
    template using it fails rather than greeting nobody), ``roles`` (role name -> contact)
    and ``activity`` (the one that triggered the email, when one did)."""
    clients = [freshest(c, people) for c in case.get("clients", [])]
    roles: dict[str, Any] = {}
    for role in active_roles(case):
        roles.setdefault(role["role"], people.get(role["contact_id"], {"id": role["contact_id"]}))
    context = {"case": case, "clients": clients, "roles": roles}
    if clients:
        context["client"] = clients[0]
    if activity is not None:
        context["activity"] = activity
    return context


async def _parts(
    session: AsyncSession, template: str | None, inline: dict[str, str | None]
) -> dict[str, str | None]:
    if template is None:
        if not inline.get("subject") or inline.get("body_text") is None:
            raise CannotRender("neither a template nor a subject and body_text")
        # Inline parts from a command were never saved, so never checked: check them now.
        for part, source in inline.items():
            if source is not None and (
                problem := template_problem(source, html=part == "body_html")
            ):
                raise CannotRender(f"{part}: {problem}")
        return inline
    row = (await session.execute(sa.select(templates).where(templates.c.name == template))).first()
    if row is None:
        raise CannotRender(f"no template named {template!r}")
    return {"subject": row.subject, "body_text": row.body_text, "body_html": row.body_html}


async def _contacts(session: AsyncSession, ids: set[str]) -> dict[str, dict[str, Any]]:
    """The contacts' state as their own events (or a case's copy) last told us."""
    if not ids:
        return {}
    rows = (
        await session.execute(
            sa.select(contacts.c.id, contacts.c.state).where(
                contacts.c.id.in_([uuid.UUID(i) for i in ids])
            )
        )
    ).all()
    return {str(r.id): r.state for r in rows}
