"""Do a service's Table objects match what its migrations made? Alembic's autogenerate
compares them with a migrated database; every difference is a model or a migration to fix.

``await assert_tables_match(url, [metadata, messaging_metadata])`` in a service's test."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

# alembic's include_object hook: (object, name, type_, reflected, compare_to) -> keep it?
IncludeObject = Callable[[Any, str | None, str, bool, Any], bool]

# The table alembic keeps its revision in: the migrations' own, no model declares it.
VERSION_TABLE = "alembic_version"


async def schema_differences(
    database_url: str,
    target_metadata: sa.MetaData | Sequence[sa.MetaData],
    include_object: IncludeObject | None = None,
) -> list[Any]:
    """What alembic's autogenerate would change to make the database at ``database_url``
    look like ``target_metadata`` (columns, types, nullability, server defaults, indexes,
    unique and foreign key constraints): empty when they agree. ``include_object`` leaves
    out what cannot be compared (return False for it)."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
        if type_ == "table" and name == VERSION_TABLE:
            return False
        return include_object is None or include_object(obj, name, type_, reflected, other)

    def compare(connection: sa.Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_object": include,
            },
        )
        # alembic takes a sequence of MetaData too (its AutogenContext does); only the
        # annotation of compare_metadata says one.
        differences: list[Any] = compare_metadata(context, target_metadata)  # type: ignore[arg-type]
        return differences + _index_option_differences(connection, target_metadata, include)

    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(compare)
    finally:
        await engine.dispose()


def _index_option_differences(
    connection: sa.Connection,
    target_metadata: sa.MetaData | Sequence[sa.MetaData],
    include: IncludeObject,
) -> list[Any]:
    """What alembic leaves out of comparing two indexes of the same name: the access
    method, a partial index's predicate and the operator classes."""
    metadatas = [target_metadata] if isinstance(target_metadata, sa.MetaData) else target_metadata
    inspector = sa.inspect(connection)
    differences: list[Any] = []
    for table in (t for m in metadatas for t in m.sorted_tables):
        if not inspector.has_table(table.name):
            continue  # alembic reports the table missing
        reflected = {
            i["name"]: i.get("dialect_options", {}) for i in inspector.get_indexes(table.name)
        }
        for index in table.indexes:
            if index.name not in reflected or not include(index, index.name, "index", False, None):
                continue  # missing ones are alembic's to report
            database, model = reflected[index.name], index.dialect_options["postgresql"]
            for option, in_database, in_model in (
                ("using", database.get("postgresql_using", "btree"), model["using"] or "btree"),
                (
                    "where",
                    _normalised(database.get("postgresql_where")),
                    _normalised(_compiled(model["where"], connection)),
                ),
                (
                    "ops",
                    sorted(database.get("postgresql_ops", {}).values()),
                    sorted(model["ops"].values()),
                ),
            ):
                if in_database != in_model:
                    differences.append(
                        (f"modify_index_{option}", table.name, index.name, in_database, in_model)
                    )
    return differences


def _compiled(clause: Any, connection: sa.Connection) -> str | None:
    if clause is None or isinstance(clause, str):
        return clause
    return str(
        clause.compile(
            dialect=connection.dialect,
            compile_kwargs={"literal_binds": True, "include_table": False},
        )
    )


def _normalised(predicate: str | None) -> str | None:
    """PostgreSQL gives back a predicate with its own parentheses and casts
    ("((status = 'queued'::text) AND x)"): compare without them, case or spaces."""
    if predicate is None:
        return None
    return re.sub(r"::\w+(\[\])?|[()\s]", "", predicate).lower()


def describe(difference: Any) -> str:
    """One line for one of alembic's differences: which object, and which side has what
    ("add_*" = in the models only, "remove_*" = in the database only, "modify_*" = both,
    differently)."""
    if isinstance(difference, list):  # the modify_* of one column come as a list
        return "; ".join(describe(d) for d in difference)
    op, *rest = difference
    if op in ("add_table", "remove_table"):
        return f"{op}: table {rest[0].name}"
    if op in ("add_column", "remove_column"):
        _, table, column = rest
        return f"{op}: {table}.{column.name} {column.type}"
    if op in ("add_index", "remove_index"):
        index = rest[0]
        return f"{op}: {index.name} on {index.table.name} ({_expressions(index)})"
    if op in ("add_constraint", "remove_constraint", "add_fk", "remove_fk"):
        constraint = rest[0]
        kind, columns = type(constraint).__name__, ", ".join(c.name for c in constraint.columns)
        return f"{op}: {kind} {constraint.name} on {constraint.table.name} ({columns})"
    if op.startswith("modify_index_"):
        table, index, database, model = rest
        return f"{op}: {index} on {table}: database {database!r}, models {model!r}"
    if op.startswith("modify_"):
        _, table, column, _, database, model = rest
        return f"{op}: {table}.{column}: database {_shown(database)}, models {_shown(model)}"
    return repr(difference)


def _shown(value: Any) -> str:
    """A server default as its SQL, a type or a flag as itself."""
    if isinstance(value, sa.DefaultClause):
        return repr(str(getattr(value.arg, "text", value.arg)))
    return repr(value)


def _expressions(index: sa.Index) -> str:
    return ", ".join(str(e) for e in index.expressions)


async def assert_tables_match(
    database_url: str,
    target_metadata: sa.MetaData | Sequence[sa.MetaData],
    include_object: IncludeObject | None = None,
) -> None:
    """Fail, listing each difference on a line, unless the models match the database."""
    differences = await schema_differences(database_url, target_metadata, include_object)
    assert not differences, "the models and the migrated database differ:\n" + "\n".join(
        "  " + describe(d) for d in differences
    )
