"""Read models keep the newest state of what other services announce: an upsert that only
overwrites an older row, whatever order the events arrive in. Many rows go in one
round trip (a consumed batch), sorted by key: concurrent batches that touch the same rows
lock them in the same order, so they wait for each other instead of deadlocking."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection


async def upsert_newest(
    session: AsyncConnection,
    table: sa.Table,
    values: dict[str, Any] | list[dict[str, Any]],
    *,
    key: str,
    newer_by: str,
    same_counts: bool = False,
) -> None:
    """Insert ``values`` (a row, or rows with the same columns), or overwrite the row with the
    same ``key`` when the incoming one is newer by the column ``newer_by`` (or as new, with
    ``same_counts``: a state re-announced at the same version, such as a case type switched
    off). Of several rows with one key, the newest wins."""
    rows = newest_by_key([values] if isinstance(values, dict) else values, key, newer_by)
    if not rows:
        return
    upsert = insert(table)
    current, incoming = table.c[newer_by], upsert.excluded[newer_by]
    statement = upsert.on_conflict_do_update(
        index_elements=[table.c[key]],
        set_={name: upsert.excluded[name] for name in rows[0] if name != key},
        where=current <= incoming if same_counts else current < incoming,
    )
    await session.execute(statement, rows)


def newest_by_key(rows: Iterable[dict[str, Any]], key: str, newer_by: str) -> list[dict[str, Any]]:
    """One row per key (the newest; the later of equals), in key order."""
    newest: dict[Any, dict[str, Any]] = {}
    for row in rows:
        seen = newest.get(row[key])
        if seen is None or seen[newer_by] <= row[newer_by]:
            newest[row[key]] = row
    return [newest[k] for k in sorted(newest, key=str)]


def any_of(column: sa.ColumnElement[Any], values: Iterable[Any]) -> sa.ColumnElement[bool]:
    """``column = ANY(:values)``: one statement (one prepared plan) however many values,
    where ``IN`` would render a new statement for each count."""
    return column == sa.any_(sa.bindparam(None, list(values), type_=ARRAY(column.type)))
