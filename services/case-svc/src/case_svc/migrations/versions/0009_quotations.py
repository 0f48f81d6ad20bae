"""Quotations on sales cases, and the per-instance counters that number them.

Revision ID: 0009
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.create_table(
        "document_counters",
        sa.Column("instance", sa.Text, nullable=False),
        sa.Column("series", sa.Text, nullable=False),  # Q-2026, INV-2026, CN-2026
        sa.Column("last", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("instance", "series"),
    )
    op.create_table(
        "quotations",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("case_id", UUID(as_uuid=True), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("instance", sa.Text, nullable=False),
        sa.Column("number", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("lines", JSONB, nullable=False),
        sa.Column("subtotal", sa.Numeric, nullable=False),
        sa.Column("tax", sa.Numeric, nullable=False),
        sa.Column("total", sa.Numeric, nullable=False),
        sa.Column("valid_until", sa.Date, nullable=False),
        sa.Column("notes", sa.Text),
        sa.Column("recipient_contact_id", UUID(as_uuid=True)),
        sa.Column("created_by", sa.Text),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.UniqueConstraint("instance", "number", name="quotations_number"),
    )
    op.create_index("quotations_case", "quotations", ["case_id", "created_at"])
    # What the expiry worker looks for: sent, by validity date.
    op.create_index(
        "quotations_expiring",
        "quotations",
        ["valid_until"],
        postgresql_where=sa.text("status = 'sent'"),
    )


def downgrade() -> None:
    op.drop_table("quotations")
    op.drop_table("document_counters")
