"""An email's draft: its case and contacts from the read model, its template rendered with
them, and its recipients resolved. Used by the delivery worker and by template previews."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

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


@dataclass
class Request:
    """What an email asks for (an emails row, or a preview)."""

    case_id: uuid.UUID | None
    to_spec: list[str]
    template: str | None = None
    inline: dict[str, str | None] = field(default_factory=dict)
    activity: dict[str, Any] | None = None
    quotation: dict[str, Any] | None = None
    invoice: dict[str, Any] | None = None


@dataclass
class Known:
    """What the read model knows that some drafts need: cases by id, templates' parts by
    name, contacts by id (as text)."""

    cases: dict[uuid.UUID, dict[str, Any]]
    templates: dict[str, dict[str, str | None]]
    contacts: dict[str, dict[str, Any]]


async def read_known(session: AsyncConnection, requests: list[Request]) -> Known:
    """Everything ``requests`` need, in one query per table however many they are (a
    delivery batch drafts all its emails from one read)."""
    known_cases = await _cases(session, {r.case_id for r in requests if r.case_id})
    needed: set[str] = set()
    for request in requests:
        if (case := known_cases.get(request.case_id)) is not None:
            needed |= contact_ids_needed(request.to_spec, case)
    return Known(
        known_cases,
        await _templates(session, {r.template for r in requests if r.template}),
        await _contacts(session, needed),
    )


def draft(request: Request, known: Known, staff: dict[str, StaffToken] | None = None) -> Draft:
    """Raises CaseNotKnown, or CannotRender (unknown template, a token that does not render).
    ``request.activity``: the triggering activity's state, if any; ``staff``: a
    staff_directory."""
    case = known.cases.get(request.case_id)
    if case is None:
        raise CaseNotKnown(str(request.case_id))
    parts = _parts(request.template, request.inline, known.templates)
    documents = {"quotation": request.quotation, "invoice": request.invoice}
    for name, given in {"activity": request.activity, **documents}.items():
        for part, source in parts.items():
            if given is None and source is not None and name in names_used(source):
                raise CannotRender(f"{part}: uses {name} tokens, but no {name} asked for it")
    people = known.contacts  # looked up by id only, so others' contacts do no harm
    context = template_context(case, people, request.activity, **documents)
    rendered = render(parts, context)
    if not (rendered["subject"] or "").strip():
        raise CannotRender("subject: renders empty")
    recipients, unresolved = resolve(request.to_spec, case, people, staff)
    return Draft(
        rendered["subject"], rendered["body_text"], rendered["body_html"], recipients, unresolved
    )


async def draft_email(
    session: AsyncConnection,
    *,
    case_id: uuid.UUID,
    to_spec: list[str],
    template: str | None,
    inline: dict[str, str | None],
    activity: dict[str, Any] | None = None,
    staff: dict[str, StaffToken] | None = None,
    quotation: dict[str, Any] | None = None,
) -> Draft:
    """One email's draft (template previews): see ``draft``."""
    request = Request(case_id, to_spec, template, inline, activity, quotation)
    return draft(request, await read_known(session, [request]), staff)


def template_context(
    case: dict[str, Any],
    people: dict[str, dict[str, Any]],
    activity: dict[str, Any] | None = None,
    quotation: dict[str, Any] | None = None,
    invoice: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``case``, ``clients``, ``client`` (the first; absent when the case has none, so a
    template using it fails rather than greeting nobody), ``roles`` (role name -> contact),
    ``activity`` (the one that triggered the email, when one did), ``quotation`` and
    ``invoice`` (the one the email is about)."""
    clients = [freshest(c, people) for c in case.get("clients", [])]
    roles: dict[str, Any] = {}
    for role in active_roles(case):
        roles.setdefault(role["role"], people.get(role["contact_id"], {"id": role["contact_id"]}))
    context = {"case": case, "clients": clients, "roles": roles}
    if clients:
        context["client"] = clients[0]
    if activity is not None:
        context["activity"] = activity
    for name, document in (("quotation", quotation), ("invoice", invoice)):
        if document is not None:
            context[name] = document
    return context


def _parts(
    template: str | None,
    inline: dict[str, str | None],
    saved: dict[str, dict[str, str | None]],
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
    if template not in saved:
        raise CannotRender(f"no template named {template!r}")
    return saved[template]


async def _cases(session: AsyncConnection, ids: set[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    if not ids:
        return {}
    rows = await session.execute(sa.select(cases.c.id, cases.c.state).where(cases.c.id.in_(ids)))
    return {r.id: r.state for r in rows}


async def _templates(session: AsyncConnection, names: set[str]) -> dict[str, dict[str, str | None]]:
    if not names:
        return {}
    rows = await session.execute(sa.select(templates).where(templates.c.name.in_(names)))
    return {
        r.name: {"subject": r.subject, "body_text": r.body_text, "body_html": r.body_html}
        for r in rows
    }


async def _contacts(session: AsyncConnection, ids: set[str]) -> dict[str, dict[str, Any]]:
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
