"""The messaging tables every service's database has: the outbox and inbox (created by each
service's first migration through ``create_messaging_tables``) and the held messages
(created by the shared ``messaging`` branch of migrations, ``casestream.persistence``'s
``messaging_migrations``)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

messaging_metadata = sa.MetaData()

outbox = sa.Table(
    "outbox",
    messaging_metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    # hash(key) % shards: one relay holds a shard at a time, so one key is published in order.
    sa.Column("shard", sa.SmallInteger, nullable=False),
    sa.Column("message_id", UUID(as_uuid=True), nullable=False),
    sa.Column("payload", JSONB, nullable=False),
    sa.Column("headers", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column("published_at", sa.DateTime(timezone=True)),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
    # A row that kept failing is parked: it no longer blocks its key, and stays for a human.
    sa.Column("parked_at", sa.DateTime(timezone=True)),
)
sa.Index(
    "outbox_pending",
    outbox.c.shard,
    outbox.c.id,
    postgresql_where=sa.and_(outbox.c.published_at.is_(None), outbox.c.parked_at.is_(None)),
)
sa.Index(
    "outbox_pending_key",
    outbox.c.key,
    outbox.c.id,
    postgresql_where=sa.and_(outbox.c.published_at.is_(None), outbox.c.parked_at.is_(None)),
)
# The relay counts the parked rows (a gauge) without reading the published ones.
sa.Index(
    "outbox_parked",
    outbox.c.id,
    postgresql_where=sa.and_(outbox.c.published_at.is_(None), outbox.c.parked_at.is_not(None)),
)
sa.Index(
    "outbox_published_at",
    outbox.c.published_at,
    postgresql_where=outbox.c.published_at.is_not(None),
)

inbox = sa.Table(
    "inbox",
    messaging_metadata,
    sa.Column("consumer", sa.Text, primary_key=True),
    sa.Column("message_id", UUID(as_uuid=True), primary_key=True),
    sa.Column(
        "processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
)
sa.Index("inbox_processed_at", inbox.c.processed_at)

# Messages that came before what they need (casestream.messaging.holding): kept as received,
# handled again when it arrives. The first row of a (consumer, key) is the one that waits; the
# others of its key wait behind it, so a key's messages are still handled in order.
held_messages = sa.Table(
    "held_messages",
    messaging_metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("consumer", sa.Text, nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("message_id", UUID(as_uuid=True), nullable=False),
    # What it waits for ("case-type:general_enquiry:1"); None for a row behind another.
    sa.Column("awaiting", sa.Text),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("partition", sa.Integer, nullable=False),
    sa.Column("offset", sa.BigInteger, nullable=False),
    sa.Column("value", sa.LargeBinary, nullable=False),
    sa.Column("headers", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("held_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    # When to try it again: now once what it awaits is released, else a recheck later.
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("rechecks", sa.Integer, nullable=False, server_default="0"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    sa.UniqueConstraint("consumer", "message_id", name="held_messages_consumer_message"),
)
sa.Index("held_messages_key", held_messages.c.consumer, held_messages.c.key, held_messages.c.id)
sa.Index(
    "held_messages_awaiting",
    held_messages.c.awaiting,
    postgresql_where=held_messages.c.awaiting.is_not(None),
)
sa.Index("held_messages_due", held_messages.c.due_at)


def create_messaging_tables(bind: sa.engine.Connection) -> None:
    """For a service's first migration: the outbox and inbox as they were then (later tables
    come with the ``messaging`` branch)."""
    messaging_metadata.create_all(bind, tables=[outbox, inbox])


def add_parked_index(bind: sa.engine.Connection) -> None:
    """For a migration of a database made before the ``outbox_parked`` index existed."""
    bind.execute(
        sa.text(
            "CREATE INDEX IF NOT EXISTS outbox_parked ON outbox (id) "
            "WHERE published_at IS NULL AND parked_at IS NOT NULL"
        )
    )


def drop_parked_index(bind: sa.engine.Connection) -> None:
    bind.execute(sa.text("DROP INDEX IF EXISTS outbox_parked"))


def drop_messaging_tables(bind: sa.engine.Connection) -> None:
    messaging_metadata.drop_all(bind, tables=[outbox, inbox])
