"""activities in full: priority, location, attachments, creator, version; assignees as rows;
the case read model for permissions; the system types of case actions; "what is due" indexes

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0002"
down_revision = "0001"

# What case-svc does, logged on the case as completed activities of these types.
CASE_ACTION_TYPES = [
    ("change_case_status", "Change Case Status"),
    ("assign_case", "Assign Case"),
    ("assign_case_role", "Assign Case Role"),
    ("close_case", "Close Case"),
    ("reopen_case", "Reopen Case"),
    ("transfer_case", "Transfer Case"),
    ("merge_case", "Merge Case"),
]

DUE_TIME = "coalesce(due_at, occurred_at, created_at)"


def upgrade() -> None:
    op.add_column(
        "activities", sa.Column("priority", sa.Text, nullable=False, server_default="normal")
    )
    op.add_column("activities", sa.Column("location", sa.Text))
    op.add_column(
        "activities", sa.Column("attachments", JSONB, nullable=False, server_default="[]")
    )
    op.add_column("activities", sa.Column("created_by", sa.Text))
    op.add_column(
        "activities", sa.Column("version", sa.Integer, nullable=False, server_default="1")
    )
    op.create_check_constraint(
        "activities_priority", "activities", "priority IN ('low', 'normal', 'urgent')"
    )
    # "What is due" without an assignee: everything, or what is still scheduled, by due time.
    op.execute(f"CREATE INDEX activities_due ON activities (({DUE_TIME}), id)")
    op.execute(
        f"CREATE INDEX activities_scheduled_due ON activities (({DUE_TIME}), id) "
        "WHERE status = 'scheduled'"
    )

    # One row per (activity, assignee), carrying the activity's status and due times, so
    # "my overdue work" is one range scan of an index instead of a search in JSON arrays.
    op.create_table(
        "activity_assignees",
        sa.Column(
            "activity_id",
            UUID(as_uuid=True),
            sa.ForeignKey("activities.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("assignee", sa.Text, primary_key=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True)),
        sa.Column("due_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute(
        "CREATE INDEX activity_assignees_due ON activity_assignees (assignee, due_time, "
        "activity_id)"
    )
    op.execute(
        "CREATE INDEX activity_assignees_scheduled_due ON activity_assignees "
        "(assignee, due_time, activity_id) WHERE status = 'scheduled'"
    )
    op.execute(
        "INSERT INTO activity_assignees (activity_id, assignee, status, due_at, due_time) "
        f"SELECT id, a.assignee, status, due_at, {DUE_TIME} FROM activities, "
        "LATERAL jsonb_array_elements_text(assignee_ids) AS a(assignee) ON CONFLICT DO NOTHING"
    )

    op.create_table(
        "case_view",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("instance", sa.Text, nullable=False),
        sa.Column("case_type", sa.Text, nullable=False),
        sa.Column("assignee", sa.Text),
        sa.Column("created_by", sa.Text),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("status_class", sa.Text, nullable=False),
        sa.Column("client_ids", JSONB, nullable=False, server_default="[]"),
        sa.Column("merged_into", UUID(as_uuid=True)),
        sa.Column("version", sa.Integer, nullable=False),
    )
    # For "own" tokens: the cases assigned to or opened by the caller.
    op.create_index("case_view_assignee", "case_view", ["assignee"])
    op.create_index("case_view_created_by", "case_view", ["created_by"])

    op.execute(
        "INSERT INTO activity_types (name, label, system) VALUES "
        + ", ".join(f"('{name}', '{label}', true)" for name, label in CASE_ACTION_TYPES)
        + " ON CONFLICT (name) DO UPDATE SET system = true"
    )


def downgrade() -> None:
    op.execute(
        "DELETE FROM activity_types WHERE name IN ("
        + ", ".join(f"'{name}'" for name, _ in CASE_ACTION_TYPES)
        + ") AND name NOT IN (SELECT type FROM activities)"
    )
    op.drop_table("case_view")
    op.drop_table("activity_assignees")
    op.execute("DROP INDEX activities_scheduled_due")
    op.execute("DROP INDEX activities_due")
    op.drop_constraint("activities_priority", "activities")
    for column in ("version", "created_by", "attachments", "location", "priority"):
        op.drop_column("activities", column)
