"""The form store: upsert and read form definitions, and the cache public posts read them from."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from casestream.persistence.database import Database
from intake_svc.config import Settings
from intake_svc.schemas import Form, FormDefinition
from intake_svc.tables import forms


def public_path(slug: str) -> str:
    return f"/f/{slug}"


def form_of(row: Any) -> Form:
    return Form(
        slug=row.slug,
        url=public_path(row.slug),
        title=row.title,
        case_type=row.case_type,
        fields=row.fields,
        duplicate_contact_rule=row.duplicate_contact_rule,
        existing_open_case=row.existing_open_case,
        success_url=row.success_url,
        allowed_origins=row.allowed_origins,
        enabled=row.enabled,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def put_form(
    session: AsyncConnection, slug: str, definition: FormDefinition
) -> tuple[Form, bool]:
    """Create or replace the form; True when it was created."""
    now = datetime.now(UTC)
    values = definition.model_dump(mode="json")
    statement = (
        insert(forms)
        .values(slug=slug, created_at=now, updated_at=now, **values)
        .on_conflict_do_update(index_elements=[forms.c.slug], set_={**values, "updated_at": now})
        # xmax is 0 only for a row this statement inserted (not one it updated).
        .returning(*forms.c, sa.literal_column("(xmax = 0)").label("created"))
    )
    row = (await session.execute(statement)).one()
    return form_of(row), bool(row.created)


async def get_form(session: AsyncConnection, slug: str) -> Form | None:
    row = (await session.execute(sa.select(forms).where(forms.c.slug == slug))).first()
    return form_of(row) if row else None


async def list_forms(session: AsyncConnection, after: str | None, limit: int) -> list[Form]:
    query = sa.select(forms).order_by(forms.c.slug).limit(limit)
    if after is not None:
        query = query.where(forms.c.slug > after)
    return [form_of(row) for row in (await session.execute(query)).all()]


class FormCache:
    """Form definitions by slug, as this process last read or saved them, so a public post
    does not read its form from the database. A definition's ``updated_at`` is its version.

    - Saved in this process (``PUT /forms``): the saved form replaces the entry at once.
    - Saved by another replica: a post stores itself only if its form's version is still
      the one it was checked against (in the same statement, see ``submissions``); if not,
      the post is checked again against the form read afresh. Everything else read from
      here (the page, a refusal, the status's CORS headers) trusts an entry for at most
      ``form_cache_seconds`` (read from settings each time, so it can change on a running
      app).

    Unknown slugs are not remembered (a bot trying names must not fill the table)."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings
        self._entries: dict[str, tuple[Form, float]] = {}
        # One read per slug at a time: the posts that find an entry aged out together wait
        # for the same read instead of each making its own.
        self._reads: dict[str, asyncio.Future[Form | None]] = {}

    async def get(self, slug: str) -> Form | None:
        entry = self._entries.get(slug)
        if entry is not None and time.monotonic() - entry[1] < self.settings.form_cache_seconds:
            return entry[0]
        return await self.load(slug)

    async def load(self, slug: str) -> Form | None:
        """Read the form afresh (and remember it)."""
        read = self._reads.get(slug)
        if read is None:
            read = self._reads[slug] = asyncio.ensure_future(self._read(slug))
            read.add_done_callback(lambda _: self._read_done(slug, read))
        # Shielded: one waiter giving up (a client gone) does not cancel the others' read.
        return await asyncio.shield(read)

    def _read_done(self, slug: str, read: asyncio.Future[Form | None]) -> None:
        if self._reads.get(slug) is read:
            del self._reads[slug]
        if not read.cancelled():
            read.exception()  # its waiters were told; none left must not make it "unretrieved"

    async def _read(self, slug: str) -> Form | None:
        async with self.database.session() as session:
            form = await get_form(session, slug)
        if form is None:
            self._entries.pop(slug, None)
        else:
            self.remember(form)
        return form

    def remember(self, form: Form) -> None:
        # Last one wins: a slow read that puts back an older definition is caught like any
        # stale entry (by the post's version check, or when it ages out).
        self._entries[form.slug] = (form, time.monotonic())
