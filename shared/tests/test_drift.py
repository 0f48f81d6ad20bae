"""The drift check (casestream.testing.drift) against a real database: the models that made
it match it, and a model that lost a column, changed a type or a partial index's predicate
no longer does."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from casestream.testing.drift import assert_tables_match, schema_differences


def notes_model(
    *, without: str | None = None, body_type: type = sa.Text, open_status: str = "open"
) -> sa.MetaData:
    """A tiny model; its keyword arguments make the altered copies the tests compare."""
    metadata = sa.MetaData()
    columns = [
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("body", body_type, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="open"),
        sa.Column("author", sa.Text),
    ]
    notes = sa.Table("drift_notes", metadata, *(c for c in columns if c.name != without))
    sa.Index("drift_notes_open", notes.c.id, postgresql_where=notes.c.status == open_status)
    return metadata


@pytest.fixture
async def notes_database(create_database) -> str:
    """A database made from notes_model() by create_all (no migrations)."""
    url = await create_database("drift")
    engine = create_async_engine(url, poolclass=NullPool)
    async with engine.begin() as conn:
        await conn.run_sync(notes_model().create_all)
    await engine.dispose()
    return url


async def test_the_models_that_made_a_database_match_it(notes_database):
    assert await schema_differences(notes_database, notes_model()) == []
    await assert_tables_match(notes_database, [notes_model()])


async def test_a_column_the_models_lost_is_reported(notes_database):
    differences = await schema_differences(notes_database, notes_model(without="author"))

    assert [(d[0], d[2], d[3].name) for d in differences] == [
        ("remove_column", "drift_notes", "author")
    ]
    with pytest.raises(AssertionError, match=r"remove_column: drift_notes\.author TEXT"):
        await assert_tables_match(notes_database, notes_model(without="author"))


async def test_a_column_of_another_type_is_reported(notes_database):
    differences = await schema_differences(notes_database, notes_model(body_type=sa.Integer))

    # A column's modify_* differences come as one list.
    assert [[(d[0], d[2], d[3]) for d in ds] for ds in differences] == [
        [("modify_type", "drift_notes", "body")]
    ]


async def test_a_partial_index_with_another_predicate_is_reported(notes_database):
    # alembic compares an index's columns only: the predicate is the drift check's own.
    differences = await schema_differences(notes_database, notes_model(open_status="closed"))

    assert differences == [
        (
            "modify_index_where",
            "drift_notes",
            "drift_notes_open",
            "status='open'",
            "status='closed'",
        )
    ]
