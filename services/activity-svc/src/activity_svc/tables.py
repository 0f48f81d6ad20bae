"""activity-svc's own tables."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = sa.MetaData()

now = sa.func.now()

activity_types = sa.Table(
    "activity_types",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("label", sa.Text, nullable=False),
    # Types the service itself relies on (e.g. "email" for logged emails).
    sa.Column("system", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
)

# Read model of casetype.events: every published version stays, because a case keeps the
# version it was opened with.
case_type_versions = sa.Table(
    "case_type_versions",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("title", sa.Text),
    sa.Column("instance", sa.Text),
    sa.Column("definition", JSONB, nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
)

activities = sa.Table(
    "activities",
    metadata,
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
    # What made it ("timeline:<case>:<set>:<index>", "email:<email id>"): unique, so one
    # trigger creates one activity however often it is delivered.
    sa.Column("source", sa.Text, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("priority", sa.Text, nullable=False, server_default="normal"),
    sa.Column("location", sa.Text),
    # References to documents kept elsewhere: [{"name", "url"}].
    sa.Column("attachments", JSONB, nullable=False, server_default="[]"),
    sa.Column("created_by", sa.Text),
    # Bumped by every change: If-Match refuses to act on a version the caller has not seen.
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.CheckConstraint(
        "status IN ('scheduled', 'completed', 'cancelled')", name="activities_status"
    ),
)

# The order of "what is due": when it falls due, else when it happened, else when recorded
# (never null, so it can be a keyset cursor; indexed as such).
due_time = sa.func.coalesce(activities.c.due_at, activities.c.occurred_at, activities.c.created_at)
# "What is due" without an assignee: everything, or what is still scheduled, by due time.
sa.Index("activities_due", due_time, activities.c.id)
sa.Index(
    "activities_scheduled_due",
    due_time,
    activities.c.id,
    postgresql_where=activities.c.status == "scheduled",
)

# One row per (activity, assignee) with the activity's status and due times, kept in step
# by ``activities.keep_assignees``: "assignee=me" is then an index range scan.
activity_assignees = sa.Table(
    "activity_assignees",
    metadata,
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
sa.Index(
    "activity_assignees_due",
    activity_assignees.c.assignee,
    activity_assignees.c.due_time,
    activity_assignees.c.activity_id,
)
sa.Index(
    "activity_assignees_scheduled_due",
    activity_assignees.c.assignee,
    activity_assignees.c.due_time,
    activity_assignees.c.activity_id,
    postgresql_where=activity_assignees.c.status == "scheduled",
)

# When an activity sits on a case's timeline: when it happened, else when it is due, else
# when it was recorded (never null, so it can be a keyset cursor).
timeline_at = sa.func.coalesce(
    activities.c.occurred_at, activities.c.due_at, activities.c.created_at
)

sa.Index(
    "activities_case_timeline",
    activities.c.case_id,
    timeline_at,
    activities.c.created_at,
    activities.c.id,
)
