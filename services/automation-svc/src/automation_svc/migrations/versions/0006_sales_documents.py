"""Quotations and invoices as sales.events last said them (a read model), and the document
a timed action was set by: re-read when it comes due (its date, its status).

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "sales_documents",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),  # quotation, invoice
        sa.Column("case_id", UUID(as_uuid=True), nullable=False),
        sa.Column("state", JSONB, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.add_column("firing_actions", sa.Column("document_id", UUID(as_uuid=True)))


def downgrade() -> None:
    op.drop_column("firing_actions", "document_id")
    op.drop_table("sales_documents")
