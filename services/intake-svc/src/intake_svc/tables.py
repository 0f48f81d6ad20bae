"""intake-svc's own tables: web form definitions and the submissions made through them, and
its read models of what case-svc announces (case types, cases)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from casestream.persistence.read_models import case_types_table, cases_table

metadata = sa.MetaData()

SUBMISSION_STATUSES = ("received", "case_opened", "attached", "rejected")

forms = sa.Table(
    "forms",
    metadata,
    sa.Column("slug", sa.Text, primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("case_type", sa.Text, nullable=False),
    sa.Column("fields", JSONB, nullable=False),
    sa.Column("duplicate_contact_rule", sa.Text, nullable=False),
    sa.Column("existing_open_case", sa.Text, nullable=False),
    sa.Column("success_url", sa.Text),
    sa.Column("allowed_origins", JSONB, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

submissions = sa.Table(
    "submissions",
    metadata,
    # uuid4: the public status URL is only as private as this id is unguessable.
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("form", sa.Text, sa.ForeignKey("forms.slug"), nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("values", JSONB, nullable=False),
    sa.Column("idempotency_key", sa.Text),
    sa.Column("case_id", UUID(as_uuid=True)),
    sa.Column("contact_id", UUID(as_uuid=True)),
    sa.Column("reason", sa.Text),
    # Which announcement this is: a staff retry of a rejected submission announces it again
    # with attempt + 1; outcomes of earlier attempts are ignored.
    sa.Column("attempt", sa.Integer, nullable=False, server_default="1"),
    # What case-svc did with the contact: created or matched.
    sa.Column("contact_outcome", sa.Text),
    # Rejected here as a bot's (too fast, honeypot): never announced, and the public status
    # keeps saying "received" so the bot learns nothing.
    sa.Column("suspected_bot", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("form", "idempotency_key", name="submissions_form_idempotency_key"),
    sa.CheckConstraint(
        "status IN ('received', 'case_opened', 'attached', 'rejected')",
        name="submissions_status",
    ),
    sa.CheckConstraint(
        "contact_outcome IN ('created', 'matched')", name="submissions_contact_outcome"
    ),
)
sa.Index("submissions_newest", submissions.c.received_at.desc(), submissions.c.id.desc())
sa.Index(
    "submissions_form_newest",
    submissions.c.form,
    submissions.c.received_at.desc(),
    submissions.c.id.desc(),
)
sa.Index(
    "submissions_status_newest",
    submissions.c.status,
    submissions.c.received_at.desc(),
    submissions.c.id.desc(),
)

# The rate limits' counters (see rate_limits): posts per client address or form slug in each
# one-minute window, shared by every replica. UNLOGGED: counting writes no WAL (a crash only
# forgets the last minute or two); windows before the previous one are deleted.
rate_counts = sa.Table(
    "rate_counts",
    metadata,
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("window_start", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("n", sa.Integer, nullable=False),
    sa.CheckConstraint("kind IN ('client', 'form')", name="rate_counts_kind"),
    prefixes=["UNLOGGED"],
)

# What case-svc said of each case type on casetype.events (its newest version): forms are
# checked against it when saved.
case_types = case_types_table(metadata)

# What case-svc said of each case on case.events (its newest state): who may see the
# submissions that opened it or were attached to it (submission_rights).
cases = cases_table(metadata)
