"""A database out of reach is told apart from work that is wrong: consumers wait for it
(test_consumption.py) and HTTP answers 503 with Retry-After instead of 500."""

from __future__ import annotations

import socket

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine

from casestream.http.bad_input import refuse_unstorable_data
from casestream.persistence.database import database_unavailable


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again once we return: nothing listens


async def _error_of(url: str, statement: str) -> BaseException:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text(statement))
    except Exception as error:
        return error
    finally:
        await engine.dispose()
    raise AssertionError(f"{statement} did not fail")


async def test_unreachable_and_cut_off_are_unavailable_wrong_work_is_not(database_url):
    nowhere = f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/postgres"
    assert database_unavailable(await _error_of(nowhere, "SELECT 1"))
    # The server ends the connection (as a restart or pg_terminate_backend does).
    terminated = await _error_of(database_url, "SELECT pg_terminate_backend(pg_backend_pid())")
    assert database_unavailable(terminated)
    assert not database_unavailable(await _error_of(database_url, "SELECT 1 / 0"))
    assert not database_unavailable(await _error_of(database_url, "SELECT * FROM no_such"))
    assert not database_unavailable(ValueError("not a database error"))


@pytest.fixture
def app(database_url: str) -> FastAPI:
    nowhere = f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/postgres"
    app = FastAPI()
    refuse_unstorable_data(app)

    async def run(url: str, statement: str) -> dict[str, int]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return {"n": (await conn.execute(sa.text(statement))).scalar_one()}
        finally:
            await engine.dispose()

    @app.get("/unreachable")
    async def unreachable() -> dict[str, int]:
        return await run(nowhere, "SELECT 1")

    @app.get("/cut-off")
    async def cut_off() -> dict[str, int]:
        return await run(database_url, "SELECT pg_terminate_backend(pg_backend_pid())::int")

    @app.get("/wrong")
    async def wrong() -> dict[str, int]:
        return await run(database_url, "SELECT count(*) FROM no_such_table")

    return app


async def test_a_request_finding_the_database_out_of_reach_gets_503_to_try_again(app):
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for path in ("/unreachable", "/cut-off"):
            answer = await client.get(path)
            assert answer.status_code == 503, (path, answer.text)
            assert answer.headers["Retry-After"] == "2"
            assert "try again" in answer.json()["detail"]
        # Work that is wrong stays a server error: it is no reason to try again.
        assert (await client.get("/wrong")).status_code == 500
