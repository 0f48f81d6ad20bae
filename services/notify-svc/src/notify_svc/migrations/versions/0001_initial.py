"""Templates, emails, the case/contact read model, plus the outbox and inbox.

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
        "templates",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body_text", sa.Text, nullable=False),
        sa.Column("body_html", sa.Text),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
    )
    op.create_table(
        "cases",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("state", JSONB, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "contacts",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("state", JSONB, nullable=False),
        sa.Column("from_contact_events", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "emails",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("notification_id", UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("case_id", UUID(as_uuid=True)),
        sa.Column("template", sa.Text),
        sa.Column("to_spec", JSONB, nullable=False),
        sa.Column("recipients", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("subject", sa.Text),
        sa.Column("body_text", sa.Text),
        sa.Column("body_html", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("message_id", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("requested_by", sa.Text),
        sa.Column("correlation_id", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint(
            "status IN ('queued', 'sent', 'failed', 'suppressed')", name="emails_status"
        ),
    )
    # The delivery worker claims due queued emails through this index.
    op.create_index(
        "emails_due",
        "emails",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'queued'"),
    )
    op.create_index("emails_case", "emails", ["case_id", "created_at", "id"])
    op.create_index("emails_created", "emails", ["created_at", "id"])


def downgrade() -> None:
    op.drop_table("emails")
    op.drop_table("contacts")
    op.drop_table("cases")
    op.drop_table("templates")
