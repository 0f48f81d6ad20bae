"""Keyset pages ordered by (time, id), with the shared opaque cursor."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi import HTTPException

from casestream.http.pagination import decode_cursor


def after_cursor(
    at: sa.ColumnElement[Any], key: sa.ColumnElement[Any], cursor: str | None
) -> sa.ColumnElement[bool]:
    values = decode_cursor(cursor)
    if values is None:
        return sa.true()
    try:
        after_at, after_key = datetime.fromisoformat(values[0]), uuid.UUID(values[1])
    except (ValueError, IndexError, TypeError) as error:
        raise HTTPException(
            422, [{"loc": ["query", "cursor"], "msg": "stale cursor", "type": "value_error"}]
        ) from error
    return sa.tuple_(at, key) > sa.tuple_(
        sa.literal(after_at, at.type), sa.literal(after_key, key.type)
    )


def cursor_key(at: datetime, key: uuid.UUID) -> list[str]:
    return [at.isoformat(), str(key)]
