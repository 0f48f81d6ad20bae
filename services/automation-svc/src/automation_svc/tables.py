"""automation-svc's own tables: rules, and the log of their firings and actions."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = sa.MetaData()

rules = sa.Table(
    "rules",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("trigger", JSONB, nullable=False),
    sa.Column("conditions", JSONB, nullable=False),
    sa.Column("actions", JSONB, nullable=False),
    sa.Column("cancel_if", JSONB, nullable=False),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
)

firings = sa.Table(
    "firings",
    metadata,
    # uuid5(rule id, event id): a redelivered event maps to the same firing.
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("rule_id", UUID(as_uuid=True), nullable=False),
    sa.Column("rule_version", sa.Integer, nullable=False),
    sa.Column("event_id", UUID(as_uuid=True), nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("case_id", UUID(as_uuid=True)),
    sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.UniqueConstraint("rule_id", "event_id", name="firings_rule_event"),
)

firing_actions = sa.Table(
    "firing_actions",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),  # uuid5(firing id, index)
    sa.Column("firing_id", UUID(as_uuid=True), sa.ForeignKey("firings.id"), nullable=False),
    sa.Column("index", sa.Integer, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("params", JSONB, nullable=False),
    sa.Column("state", sa.Text, nullable=False),  # pending, done, cancelled, failed
    sa.Column("due_at", sa.DateTime(timezone=True)),
    sa.Column("error", sa.Text),
    sa.Column("command_id", UUID(as_uuid=True)),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.UniqueConstraint("firing_id", "index", name="firing_actions_firing_index"),
)
