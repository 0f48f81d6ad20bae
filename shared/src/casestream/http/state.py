"""What a route takes from the running service, as FastAPI dependencies: the app factory puts
the runtime on ``app.state`` once, and routes name what they need in their signature
(``database: DB``, ``runtime: Service``) instead of reading ``request.app.state``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from casestream.persistence.database import Database
from casestream.service import Runtime


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def database_of(request: Request) -> Database:
    return runtime_of(request).database


Service = Annotated[Runtime, Depends(runtime_of)]
DB = Annotated[Database, Depends(database_of)]
