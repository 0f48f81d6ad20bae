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
    sa.CheckConstraint(
        "status IN ('scheduled', 'completed', 'cancelled')", name="activities_status"
    ),
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
