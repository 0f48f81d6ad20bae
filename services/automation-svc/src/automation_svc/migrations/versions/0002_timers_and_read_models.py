"""Durable timers (repeats, anchors, execution time) and the read models rules are checked
and re-read against: cases, activities, case types and template names.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    # A repeated action has one row per occurrence; the first is occurrence 0.
    op.add_column(
        "firing_actions", sa.Column("occurrence", sa.Integer, nullable=False, server_default="0")
    )
    op.drop_constraint("firing_actions_firing_index", "firing_actions")
    op.create_unique_constraint(
        "firing_actions_occurrence", "firing_actions", ["firing_id", "index", "occurrence"]
    )
    # Copied from the firing and the rule version it came from, so a due action is
    # checked against what it was fired with, whatever the rule says now.
    op.add_column("firing_actions", sa.Column("rule_id", UUID(as_uuid=True)))
    op.add_column("firing_actions", sa.Column("case_id", UUID(as_uuid=True)))
    op.add_column("firing_actions", sa.Column("activity_id", UUID(as_uuid=True)))
    op.add_column(
        "firing_actions",
        sa.Column("cancel_if", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    )
    op.add_column("firing_actions", sa.Column("executed_at", sa.DateTime(timezone=True)))
    op.create_index("firing_actions_case", "firing_actions", ["case_id"])
    op.create_index(
        "firing_actions_activity",
        "firing_actions",
        ["activity_id"],
        postgresql_where=sa.text("state = 'pending' AND activity_id IS NOT NULL"),
    )

    op.create_table(
        "cases",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("state", JSONB, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "activities",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("case_id", UUID(as_uuid=True)),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("state", JSONB, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("activities_case", "activities", ["case_id", "type"])
    op.create_table(
        "case_types",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("instance", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("definition", JSONB, nullable=False),
    )
    # Activity events that arrived before their case: fired when the case becomes known.
    op.create_table(
        "deferred_events",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("case_id", UUID(as_uuid=True), nullable=False, index=True),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activity_id", UUID(as_uuid=True)),
        sa.Column("facts", JSONB, nullable=False),
    )
    op.create_table(
        "templates",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("templates", "deferred_events", "case_types", "activities", "cases"):
        op.drop_table(table)
    op.drop_index("firing_actions_activity", "firing_actions")
    op.drop_index("firing_actions_case", "firing_actions")
    for column in ("executed_at", "cancel_if", "activity_id", "case_id", "rule_id"):
        op.drop_column("firing_actions", column)
    op.drop_constraint("firing_actions_occurrence", "firing_actions")
    op.create_unique_constraint(
        "firing_actions_firing_index", "firing_actions", ["firing_id", "index"]
    )
    op.drop_column("firing_actions", "occurrence")
