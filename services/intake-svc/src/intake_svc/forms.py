"""The form store: upsert and read form definitions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

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
    session: AsyncSession, slug: str, definition: FormDefinition
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


async def get_form(session: AsyncSession, slug: str) -> Form | None:
    row = (await session.execute(sa.select(forms).where(forms.c.slug == slug))).first()
    return form_of(row) if row else None


async def list_forms(session: AsyncSession, after: str | None, limit: int) -> list[Form]:
    query = sa.select(forms).order_by(forms.c.slug).limit(limit)
    if after is not None:
        query = query.where(forms.c.slug > after)
    return [form_of(row) for row in (await session.execute(query)).all()]
