"""Rules, firings and firing actions, plus the outbox and inbox.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from casestream.persistence.tables import create_messaging_tables

revision = "0001"
down_revision = None


now = sa.func.now()


def upgrade() -> None:
    create_messaging_tables(op.get_bind())
    op.create_table(
        "rules",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("trigger", JSONB, nullable=False),
        sa.Column("conditions", JSONB, nullable=False),
        sa.Column("actions", JSONB, nullable=False),
        sa.Column("cancel_if", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
    )
    # Every consumed event looks up the enabled rules for its type.
    op.create_index(
        "rules_trigger_event",
        "rules",
        [sa.text("(trigger->>'event')")],
        postgresql_where=sa.text("enabled"),
    )
    op.create_table(
        "firings",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("rule_id", UUID(as_uuid=True), nullable=False),
        sa.Column("rule_version", sa.Integer, nullable=False),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("case_id", UUID(as_uuid=True)),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.UniqueConstraint("rule_id", "event_id", name="firings_rule_event"),
    )
    op.create_index("firings_case", "firings", ["case_id", "fired_at"])
    op.create_index("firings_rule", "firings", ["rule_id", "fired_at"])
    op.create_table(
        "firing_actions",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("firing_id", UUID(as_uuid=True), sa.ForeignKey("firings.id"), nullable=False),
        sa.Column("index", sa.Integer, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("params", JSONB, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True)),
        sa.Column("error", sa.Text),
        sa.Column("command_id", UUID(as_uuid=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.UniqueConstraint("firing_id", "index", name="firing_actions_firing_index"),
        sa.CheckConstraint(
            "state IN ('pending', 'done', 'cancelled', 'failed')", name="firing_actions_state"
        ),
    )
    # The timer worker (a later issue) claims due pending actions through this index.
    op.create_index(
        "firing_actions_due",
        "firing_actions",
        ["due_at"],
        postgresql_where=sa.text("state = 'pending'"),
    )


def downgrade() -> None:
    op.drop_table("firing_actions")
    op.drop_table("firings")
    op.drop_table("rules")
