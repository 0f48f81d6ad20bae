"""The safety net behind the typed inputs (``casestream.contracts.inputs``): a value that
still reaches PostgreSQL and is refused there as data (SQLSTATE class 22: a NUL, an
encoding, a number out of range, a bad date; class 54: a value too large for an index
entry; or asyncpg refusing to encode a parameter, "invalid input for query argument")
answers 422, not 500.

Fields are typed so that this never happens: the typed refusal names the field, this one
can only say "body". It is logged as a warning, for the field to be typed.

A database out of reach (restarting, its connections dropped) is no fault of the request:
503 with ``Retry-After``, so a client tries again (an ``Idempotency-Key`` or ``If-Match``
makes the repeat safe).
"""

from __future__ import annotations

import asyncpg.exceptions
import asyncpg.exceptions._base
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError

from casestream.logging import get_logger
from casestream.persistence.database import database_unavailable

log = get_logger(__name__)

# How the safety net's answers begin (the fuzz tests count them as failures: a field to type).
UNTYPED_REFUSAL = "a value cannot be stored"


def refused_data(error: BaseException) -> str | None:
    """What PostgreSQL (or asyncpg) said of a value it cannot take, if ``error`` (or what
    caused it) is that; None for any other failure."""
    seen: BaseException | None = error
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, asyncpg.exceptions._base.DataError):  # asyncpg encoding a value
            return str(seen).splitlines()[0]
        sqlstate = getattr(seen, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(("22", "54")):
            return str(seen).splitlines()[0] if str(seen) else sqlstate
        seen = seen.__cause__ or getattr(seen, "orig", None)
    return None


async def _data_refused(request: Request, error: Exception) -> JSONResponse:
    if database_unavailable(error):
        log.warning("database unavailable", path=request.url.path, error=repr(error))
        return JSONResponse(
            {"detail": "the database is unavailable; try again shortly"},
            status_code=503,
            headers={"Retry-After": "2"},
        )
    reason = refused_data(error)
    if reason is None:
        raise error  # any other database failure is the 500 it was
    log.warning(
        "the database refused a value no field type caught",
        method=request.method,
        path=request.url.path,
        reason=reason,
    )
    return JSONResponse(
        {
            "detail": [
                {
                    "loc": ["body"],
                    "msg": f"{UNTYPED_REFUSAL}: {reason}",
                    "type": "value_error",
                }
            ]
        },
        status_code=422,
    )


def refuse_unstorable_data(app: FastAPI) -> None:
    """Answer 422 when the database refuses a value as data, 503 while it is out of reach
    (see the module)."""
    app.add_exception_handler(DBAPIError, _data_refused)
    app.add_exception_handler(OSError, _data_refused)  # a refused or vanished socket
