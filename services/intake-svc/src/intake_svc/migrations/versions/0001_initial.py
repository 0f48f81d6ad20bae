"""intake-svc's first tables (forms, submissions), with the outbox and inbox.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from casestream.persistence.tables import create_messaging_tables, drop_messaging_tables

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "forms",
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
    op.create_table(
        "submissions",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("form", sa.Text, sa.ForeignKey("forms.slug"), nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("values", JSONB, nullable=False),
        sa.Column("idempotency_key", sa.Text),
        sa.Column("case_id", UUID(as_uuid=True)),
        sa.Column("contact_id", UUID(as_uuid=True)),
        sa.Column("reason", sa.Text),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("form", "idempotency_key", name="submissions_form_idempotency_key"),
        sa.CheckConstraint(
            "status IN ('received', 'case_opened', 'attached', 'rejected')",
            name="submissions_status",
        ),
    )
    op.create_index(
        "submissions_newest", "submissions", [sa.text("received_at DESC"), sa.text("id DESC")]
    )
    op.create_index(
        "submissions_form_newest",
        "submissions",
        ["form", sa.text("received_at DESC"), sa.text("id DESC")],
    )
    create_messaging_tables(op.get_bind())


def downgrade() -> None:
    drop_messaging_tables(op.get_bind())
    op.drop_table("submissions")
    op.drop_table("forms")
