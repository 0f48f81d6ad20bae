"""Cursor pagination for lists: ``?limit=`` (default 50, max 500) and ``?cursor=``,
answering ``{"items": [...], "next_cursor": ... | null}``.

The cursor is the sort key of the last item returned, opaque to clients (base64 JSON), so
pages stay stable while rows are added. Use ``keyset`` to turn it into a WHERE clause.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Generic, TypeVar

import sqlalchemy as sa
from fastapi import HTTPException, Query
from pydantic import BaseModel
from pydantic_core import PydanticCustomError

from casestream.contracts.inputs import Line, storable_json

T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=500, description="Page size (max 500)")]
Cursor = Annotated[Line | None, Query(description="next_cursor of the previous page")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode()


def decode_cursor(cursor: str | None) -> list[Any] | None:
    if not cursor:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(values, list):
            raise ValueError
        storable_json(values)  # made up, not given out: nothing the database could not take
        return values
    except (ValueError, PydanticCustomError) as error:
        raise HTTPException(
            422,
            [
                {
                    "loc": ["query", "cursor"],
                    "msg": "not a cursor this service gave out",
                    "type": "value_error",
                }
            ],
        ) from error


def keyset(
    columns: list[sa.ColumnElement[Any]], cursor: str | None, descending: bool = False
) -> sa.ColumnElement[bool]:
    """Rows after the cursor, for ``ORDER BY columns`` (all ascending, or all descending)."""
    after = decode_cursor(cursor)
    if after is None:
        return sa.true()
    if len(after) != len(columns):
        raise HTTPException(
            422, [{"loc": ["query", "cursor"], "msg": "stale cursor", "type": "value_error"}]
        )
    try:
        values = [sa.literal(_typed(v, c), c.type) for v, c in zip(after, columns, strict=True)]
    except (ValueError, TypeError) as error:
        raise HTTPException(
            422, [{"loc": ["query", "cursor"], "msg": "stale cursor", "type": "value_error"}]
        ) from error
    if descending:
        return sa.tuple_(*columns) < sa.tuple_(*values)
    return sa.tuple_(*columns) > sa.tuple_(*values)


def _typed(value: Any, column: sa.ColumnElement[Any]) -> Any:
    """Cursor values travel as JSON strings; give the driver the column's own type back."""
    if value is None or not isinstance(value, str):
        return value
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return value
    if python_type is datetime:
        return datetime.fromisoformat(value)
    if python_type is date:
        return date.fromisoformat(value)
    if python_type is uuid.UUID:
        return uuid.UUID(value)
    return value


def page_of(rows: list[Any], limit: int, key: Any) -> tuple[list[Any], str | None]:
    """Given up to ``limit + 1`` rows, the page and the cursor of the next one.
    ``key(row)`` gives the row's sort key as a list of JSON-able values."""
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor(key(rows[-1]))
    return rows, None
