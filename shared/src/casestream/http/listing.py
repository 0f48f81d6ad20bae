"""One page of a list, read in keyset order: the sort columns are named once, for the rows
after the cursor, their ORDER BY and the next page's cursor (see ``casestream.http.pagination``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from casestream.http.pagination import keyset, page_of


def where_given(query: sa.Select[Any], filters: Mapping[Any, Any]) -> sa.Select[Any]:
    """``query`` narrowed to the rows whose column (a key of ``filters``) equals its value,
    for each value given: a list's optional query parameters, None where left out."""
    for column, value in filters.items():
        if value is not None:
            query = query.where(column == value)
    return query


async def read_page(
    session: AsyncConnection,
    query: sa.Select[Any],
    order: Sequence[sa.ColumnElement[Any]],
    cursor: str | None,
    limit: int,
) -> tuple[list[Any], str | None]:
    """The rows of ``query`` after ``cursor`` in ``order`` (ascending, unique: end it with
    the primary key), at most ``limit`` of them, and the cursor of the page after (None if
    this one is the last)."""
    page = query.where(keyset(list(order), cursor)).order_by(*order).limit(limit + 1)
    rows = (await session.execute(page)).all()
    return page_of(list(rows), limit, lambda row: [row._mapping[column] for column in order])
