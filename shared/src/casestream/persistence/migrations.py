"""Alembic plumbing every service's migrations share: the env script's body, a programmatic
``upgrade`` that creates the database first if it does not exist, and the ``messaging``
branch: the migrations of the shared messaging tables (``messaging_migrations/``), written
once and applied to every service's database beside the service's own branch."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

MIGRATION_LOCK = 0x0C45E0001
MESSAGING_MIGRATIONS = Path(__file__).parent / "messaging_migrations"


async def create_database_if_missing(database_url: str) -> bool:
    url = sa.make_url(database_url)
    server = url.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    conn = await asyncpg.connect(server)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", url.database)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{url.database}"')
        return not exists
    finally:
        await conn.close()


def alembic_config(migrations: Path, database_url: str | None = None) -> Config:
    """The service's migrations (its ``versions/``) and the shared messaging branch."""
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.set_main_option("path_separator", "os")
    config.set_main_option(
        "version_locations",
        os.pathsep.join([str(migrations / "versions"), str(MESSAGING_MIGRATIONS)]),
    )
    if database_url is not None:
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def scripts(migrations: Path) -> ScriptDirectory:
    """Every revision the service's database can be at (both branches)."""
    return ScriptDirectory.from_config(alembic_config(migrations))


def upgrade(migrations: Path, database_url: str, revision: str = "heads") -> None:
    """Bring the service's database to ``revision`` (by default the head of both branches).
    Blocking (alembic runs its own loop): call it from a thread when inside an event loop."""
    asyncio.run(create_database_if_missing(database_url))
    command.upgrade(alembic_config(migrations, database_url), revision)


def run_env(target_metadata: sa.MetaData | Sequence[sa.MetaData] | None = None) -> None:
    """The body of each service's ``env.py``. ``target_metadata``: the service's tables (and
    the shared messaging ones), which ``alembic revision --autogenerate`` compares with the
    database."""
    url = context.config.get_main_option("sqlalchemy.url")

    def migrate(connection: sa.Connection) -> None:
        # Replicas or jobs migrating at once take turns: the lock lasts the session.
        connection.execute(sa.select(sa.func.pg_advisory_lock(MIGRATION_LOCK)))
        connection.commit()
        # Autogenerate then compares what casestream.testing.drift does: types and defaults too.
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            compare_server_default=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        assert url is not None  # set by upgrade() (or a command-line run's alembic.ini)
        engine = create_async_engine(url, poolclass=NullPool)
        async with engine.connect() as conn:
            await conn.run_sync(migrate)
        await engine.dispose()

    asyncio.run(main())
