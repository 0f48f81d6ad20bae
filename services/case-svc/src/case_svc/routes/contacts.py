"""Staff HTTP: contacts.

Contacts are visible to every staff token for now (any known token may find, create and
change them); merging needs the ``delete_cases`` right (or ``admin``), as merging cases does.
"""

import uuid

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from case_svc.contact_merges import merge_contacts
from case_svc.contacts import (
    check_contact,
    cleaned,
    create_contact,
    update_contact,
)
from case_svc.permissions import ensure_can_delete
from case_svc.schemas import Contact, ContactIn
from case_svc.tables import contacts
from casestream.commands import not_found
from casestream.contact_keys import email_key
from casestream.contracts.case import ContactFields
from casestream.contracts.inputs import Line
from casestream.http.auth import Staff, requires
from casestream.http.pagination import Cursor, Limit, Page, keyset, page_of
from casestream.http.state import Service

router = APIRouter(tags=["contacts"])


class NewContact(ContactIn):
    organization_name: Line | None = Field(
        default=None, max_length=400, description="an organization's name (its display_name)"
    )


class ContactPatch(ContactFields):
    """Only the fields given change; null clears one."""


class ContactMerge(BaseModel):
    model_config = ConfigDict(extra="forbid")

    other_contact_id: uuid.UUID = Field(description="the contact merged away into this one")


@router.post("/contacts", status_code=201, response_model=Contact)
async def add_contact(body: NewContact, staff: Staff, runtime: Service):
    values = cleaned(body.model_dump(mode="json"))
    organization_name = values.pop("organization_name")
    values["display_name"] = values["display_name"] or organization_name
    check_contact(values)
    async with runtime.database.transaction() as tx:
        return (await create_contact(tx, values, runtime.settings))._asdict()


@router.get("/contacts", response_model=Page[Contact])
async def find_contacts(
    staff: Staff,
    runtime: Service,
    email: Line | None = Query(default=None, max_length=320),
    q: Line | None = Query(default=None, max_length=200),
    include_merged: bool = False,
    limit: Limit = 50,
    cursor: Cursor = None,
):
    """Oldest first. ``email``: exact, case-insensitive; ``q``: text in names and email."""
    order = [contacts.c.created_at, contacts.c.id]
    query = sa.select(contacts).where(keyset(order, cursor))
    if not include_merged:
        query = query.where(contacts.c.merged_into.is_(None))
    if wanted := email_key(email):
        query = query.where(sa.func.lower(contacts.c.email) == wanted)
    if q and q.strip():
        like = "%" + q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        full_name = sa.func.concat_ws(" ", contacts.c.first_name, contacts.c.last_name)
        texts = [full_name, contacts.c.display_name, contacts.c.email]
        query = query.where(sa.or_(*(t.ilike(like, escape="\\") for t in texts)))
    async with runtime.database.session() as s:
        rows = (await s.execute(query.order_by(*order).limit(limit + 1))).all()
    items, next_cursor = page_of(rows, limit, lambda r: [r.created_at.isoformat(), str(r.id)])
    return {"items": [r._asdict() for r in items], "next_cursor": next_cursor}


@router.get("/contacts/{contact_id}", response_model=Contact)
async def get_contact(contact_id: uuid.UUID, staff: Staff, runtime: Service):
    """A merged-away contact answers too, with ``merged_into``: links to it keep working."""
    async with runtime.database.session() as s:
        row = (await s.execute(sa.select(contacts).where(contacts.c.id == contact_id))).first()
    if row is None:
        raise not_found(f"contact {contact_id}")
    return row._asdict()


@router.patch("/contacts/{contact_id}", response_model=Contact)
async def change_contact(contact_id: uuid.UUID, body: ContactPatch, staff: Staff, runtime: Service):
    patch = body.model_dump(mode="json", exclude_unset=True)
    async with runtime.database.transaction() as tx:
        return (await update_contact(tx, runtime.settings, contact_id, patch))._asdict()


@router.post(
    "/contacts/{contact_id}/merge",
    response_model=Contact,
    dependencies=[Depends(requires("delete_cases"))],  # 403 before the body is read
)
async def merge_contact(contact_id: uuid.UUID, body: ContactMerge, staff: Staff, runtime: Service):
    """``other_contact_id`` merges into this contact, which survives (and is answered)."""
    ensure_can_delete(staff)
    async with runtime.database.transaction() as tx:
        merged = await merge_contacts(
            tx, runtime.settings, contact_id, body.other_contact_id, actor=staff.user
        )
        return merged._asdict()
