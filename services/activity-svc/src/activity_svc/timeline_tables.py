"""The tables timelines need (migration 0003): each application of an activity set, and
which step of which application each activity is (what they know of the case is in
``activity_svc.cases``)."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from activity_svc.tables import metadata

# One application of an activity set to a case. The id is derived from (case, set, trigger),
# so the same trigger applies a set once.
applied_timelines = sa.Table(
    "applied_timelines",
    metadata,
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
sa.Index("applied_timelines_case", applied_timelines.c.case_id)

# Which step of which application an activity is: a sequence goes on from here.
timeline_steps = sa.Table(
    "timeline_steps",
    metadata,
    sa.Column("activity_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("applied_timeline_id", UUID(as_uuid=True), nullable=False),
    sa.Column("step_index", sa.Integer, nullable=False),
    sa.UniqueConstraint("applied_timeline_id", "step_index", name="timeline_steps_once"),
)
