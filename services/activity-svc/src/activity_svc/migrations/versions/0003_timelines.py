"""timelines: cases as activity-svc knows them, applied activity sets, their steps

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "timeline_cases",
        sa.Column("case_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("instance", sa.Text, nullable=False),
        sa.Column("case_type", sa.Text, nullable=False),
        sa.Column("case_type_version", sa.Integer, nullable=False),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("assignee", sa.Text),
        sa.Column("created_by", sa.Text),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "applied_timelines",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("case_id", UUID(as_uuid=True), nullable=False),
        sa.Column("activity_set", sa.Text, nullable=False),
        sa.Column("case_type", sa.Text, nullable=False),
        sa.Column("case_type_version", sa.Integer, nullable=False),
        sa.Column("sequence", sa.Boolean, nullable=False),
        sa.Column("trigger", sa.Text, nullable=False),
        sa.Column("applied_by", sa.Text),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("applied_timelines_case", "applied_timelines", ["case_id"])
    op.create_table(
        "timeline_steps",
        sa.Column("activity_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("applied_timeline_id", UUID(as_uuid=True), nullable=False),
        sa.Column("step_index", sa.Integer, nullable=False),
        sa.UniqueConstraint("applied_timeline_id", "step_index", name="timeline_steps_once"),
    )


def downgrade() -> None:
    op.drop_table("timeline_steps")
    op.drop_table("applied_timelines")
    op.drop_table("timeline_cases")
