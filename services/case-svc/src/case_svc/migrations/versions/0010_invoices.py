"""Invoices on sales cases, and the payments recorded against them.

Revision ID: 0010
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.create_table(
        "invoices",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("case_id", UUID(as_uuid=True), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("instance", sa.Text, nullable=False),
        sa.Column("quotation_id", UUID(as_uuid=True), sa.ForeignKey("quotations.id")),
        sa.Column("number", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("lines", JSONB, nullable=False),
        sa.Column("subtotal", sa.Numeric, nullable=False),
        sa.Column("tax", sa.Numeric, nullable=False),
        sa.Column("total", sa.Numeric, nullable=False),
        sa.Column("paid", sa.Numeric, nullable=False, server_default="0"),
        sa.Column("issued_on", sa.Date),
        sa.Column("due_date", sa.Date),
        sa.Column("credit_note_number", sa.Text),
        sa.Column("notes", sa.Text),
        sa.Column("created_by", sa.Text),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.UniqueConstraint("instance", "number", name="invoices_number"),
        sa.UniqueConstraint("quotation_id", name="invoices_quotation"),
    )
    op.create_index("invoices_case", "invoices", ["case_id", "created_at"])
    op.create_index(
        "invoices_due",
        "invoices",
        ["instance", "due_date"],
        postgresql_where=sa.text("status = 'issued'"),
    )
    op.create_table(
        "invoice_payments",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("invoice_id", UUID(as_uuid=True), sa.ForeignKey("invoices.id"), nullable=False),
        sa.Column("amount", sa.Numeric, nullable=False),
        sa.Column("paid_on", sa.Date, nullable=False),
        sa.Column("reference", sa.Text),
        sa.Column("recorded_by", sa.Text),
        sa.Column(
            "recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_index("invoice_payments_invoice", "invoice_payments", ["invoice_id", "recorded_at"])


def downgrade() -> None:
    op.drop_table("invoice_payments")
    op.drop_table("invoices")
