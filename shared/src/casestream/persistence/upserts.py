"""Read models keep the newest state of what other services announce: an upsert that only
overwrites an older row, whatever order the events arrive in."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession


async def upsert_newest(
    session: AsyncSession,
    table: sa.Table,
    values: dict[str, Any],
    *,
    key: str,
    newer_by: str,
    same_counts: bool = False,
) -> None:
    """Insert ``values``, or overwrite the row with the same ``key`` when ``values`` is newer
    by the column ``newer_by`` (or as new, with ``same_counts``: a state re-announced at the
    same version, such as a case type switched off)."""
    upsert = insert(table).values(**values)
    current, incoming = table.c[newer_by], upsert.excluded[newer_by]
    await session.execute(
        upsert.on_conflict_do_update(
            index_elements=[table.c[key]],
            set_={name: upsert.excluded[name] for name in values if name != key},
            where=current <= incoming if same_counts else current < incoming,
        )
    )
