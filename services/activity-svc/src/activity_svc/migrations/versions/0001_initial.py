"""activity types, the case-type read model, activities; outbox and inbox

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from casestream.persistence.tables import create_messaging_tables

revision = "0001"
down_revision = None

# Types the walking skeleton relies on: the demo timeline's two and the one logged emails get.
SYSTEM_TYPES = [
    {"name": "open_case", "label": "Open Case", "system": True},
    {"name": "follow_up_call", "label": "Follow up call", "system": True},
    {"name": "email", "label": "Email", "system": True},
]


def upgrade() -> None:
    now = sa.func.now()
    activity_types = op.create_table(
        "activity_types",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("system", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
    )
    op.bulk_insert(activity_types, SYSTEM_TYPES)
    op.create_table(
        "case_type_versions",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("title", sa.Text),
        sa.Column("instance", sa.Text),
        sa.Column("definition", JSONB, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
    )
    op.create_table(
        "activities",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("case_id", UUID(as_uuid=True)),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("subject", sa.Text),
        sa.Column("details", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True)),
        sa.Column("occurred_at", sa.DateTime(timezone=True)),
        sa.Column("duration_minutes", sa.Integer),
        sa.Column("assignee_ids", JSONB, nullable=False, server_default="[]"),
        sa.Column("with_contact_ids", JSONB, nullable=False, server_default="[]"),
        sa.Column("outcome", sa.Text),
        sa.Column("source", sa.Text, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('scheduled', 'completed', 'cancelled')", name="activities_status"
        ),
    )
    op.execute(
        "CREATE INDEX activities_case_timeline ON activities "
        "(case_id, coalesce(occurred_at, due_at, created_at), created_at, id)"
    )
    create_messaging_tables(op.get_bind())


def downgrade() -> None:
    op.drop_table("activities")
    op.drop_table("case_type_versions")
    op.drop_table("activity_types")
