"""Recording and changing activities: each change writes the row, keeps its assignee rows in
step, bumps its version and publishes its full state plus what changed, in one transaction.
Everything that changes an activity (HTTP, commands, timelines) goes through here."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic_core import to_jsonable_python
from sqlalchemy.dialects.postgresql import insert

from activity_svc.events import changed_envelope, created_envelope, record_of
from activity_svc.tables import activities, activity_assignees, activity_types
from casestream import topics
from casestream.commands import ensure_version, invalid, not_found
from casestream.contracts.activity import ActivityState
from casestream.contracts.case import Change
from casestream.persistence.database import Transaction
from casestream.settings import ServiceSettings


async def record_activity(
    tx: Transaction, settings: ServiceSettings, **values: Any
) -> ActivityState | None:
    """Insert an activity and publish that it was scheduled or completed. With a ``source``
    already recorded, nothing happens and None is returned: one trigger, one activity."""
    return (await record_activities(tx, settings, [values]))[0]


async def record_activities(
    tx: Transaction, settings: ServiceSettings, many: list[dict[str, Any]]
) -> list[ActivityState | None]:
    """``record_activity`` for several activities in one statement (a timeline's steps);
    the answers in the same order."""
    if not many:
        return []
    now = datetime.now(UTC)
    rows = [
        {
            "id": uuid.uuid4(),
            "created_at": now,
            "updated_at": now,
            **{k: v for k, v in values.items() if v is not None},
            **_stored(values),
        }
        for values in many
    ]
    # One multi-row INSERT per set of columns given (what is not given keeps its default).
    # A column with no default and not given is null either way: naming it null lets rows
    # that differ only there (a timeline's done and due steps) share one statement.
    given = set().union(*rows)
    for row in rows:
        row.update(dict.fromkeys(given & _NULL_UNLESS_GIVEN - row.keys()))
    shapes: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in rows:
        shapes.setdefault(frozenset(row), []).append(row)
    created: dict[uuid.UUID, Any] = {}
    for alike in shapes.values():
        statement = _INSERT_ONCE_BY_SOURCE if "source" in alike[0] else _INSERT
        created |= {r.id: r for r in await tx.session.execute(statement, alike)}
    await _add_assignees(tx, list(created.values()))
    recorded: list[ActivityState | None] = []
    for row in rows:
        if row["id"] not in created:
            recorded.append(None)
            continue
        activity = record_of(created[row["id"]])
        await tx.publish(
            settings.topic(topics.ACTIVITY_EVENTS),
            created_envelope(settings.service_name, activity),
        )
        recorded.append(activity)
    return recorded


_NULL_UNLESS_GIVEN = {
    c.name for c in activities.c if c.nullable and c.server_default is None and c.default is None
}
# Built once, run with the rows as parameters (an executemany that still returns the rows).
_INSERT = insert(activities).returning(*activities.c)
_INSERT_ONCE_BY_SOURCE = (
    insert(activities)
    .on_conflict_do_nothing(index_elements=[activities.c.source])
    .returning(*activities.c)
)


async def lock_activity(
    tx: Transaction, activity_id: uuid.UUID, expected_version: int | None = None
) -> Any:
    """The activity's row, locked until the transaction ends. 404 if unknown; 409 if the
    caller saw an older version (their change would overwrite one they have not seen)."""
    row = (
        await tx.session.execute(
            sa.select(activities).where(activities.c.id == activity_id).with_for_update()
        )
    ).first()
    if row is None:
        raise not_found(f"activity {activity_id}")
    ensure_version("activity", row.version, expected_version)
    return row


async def save_activity(
    tx: Transaction,
    settings: ServiceSettings,
    before: Any,
    values: dict[str, Any],
    event_type: str,
) -> Any:
    """Write ``values`` on the locked activity ``before`` and say ``event_type`` with what
    changed. Values equal to what is stored change nothing: no new version, no event.
    Returns the activity's row as it now is."""
    values = {**values, **_stored(values)}
    # Compared as values (two spellings of one instant are equal), said as JSON.
    changes = {
        name: Change(
            before=to_jsonable_python(getattr(before, name)), after=to_jsonable_python(value)
        )
        for name, value in values.items()
        if value != getattr(before, name)
    }
    if not changes:
        return before
    row = (
        await tx.session.execute(
            activities.update()
            .where(activities.c.id == before.id)
            .values(
                **{k: values[k] for k in changes},
                version=activities.c.version + 1,
                updated_at=datetime.now(UTC),
            )
            .returning(*activities.c)
        )
    ).one()
    await keep_assignees(tx, row)
    await tx.publish(
        settings.topic(topics.ACTIVITY_EVENTS),
        changed_envelope(settings.service_name, record_of(row), event_type, changes),
    )
    return row


async def keep_assignees(tx: Transaction, row: Any) -> None:
    """Rewrite the activity's assignee rows from its current state."""
    await tx.session.execute(
        activity_assignees.delete().where(activity_assignees.c.activity_id == row.id)
    )
    await _add_assignees(tx, [row])


async def _add_assignees(tx: Transaction, rows: list[Any]) -> None:
    assigned = [
        {
            "activity_id": row.id,
            "assignee": assignee,
            "status": row.status,
            "due_at": row.due_at,
            "due_time": row.due_at or row.occurred_at or row.created_at,
        }
        for row in rows
        for assignee in dict.fromkeys(row.assignee_ids or ())
    ]
    if assigned:
        await tx.session.execute(activity_assignees.insert(), assigned)


async def activity_type_exists(session: Any, name: str) -> bool:
    found = await session.execute(
        sa.select(activity_types.c.name).where(activity_types.c.name == name)
    )
    return found.first() is not None


async def ensure_type_exists(session: Any, name: str, field: tuple[str, ...]) -> None:
    if not await activity_type_exists(session, name):
        raise invalid(field, f"unknown activity type {name!r}")


def _stored(values: dict[str, Any]) -> dict[str, Any]:
    """The JSON columns as stored: ids as strings, attachments as plain objects."""
    stored: dict[str, Any] = {}
    for name in ("assignee_ids", "with_contact_ids"):
        if name in values:
            stored[name] = [str(v) for v in values[name] or []]
    if "attachments" in values:
        stored["attachments"] = to_jsonable_python(values["attachments"] or [])
    return stored
