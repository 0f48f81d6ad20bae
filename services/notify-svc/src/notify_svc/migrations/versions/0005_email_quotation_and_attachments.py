"""An email's quotation or invoice (the ``{{ quotation.* }}``, ``{{ invoice.* }}`` tokens)
and attachments (their PDF), as its command carried them.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.add_column("emails", sa.Column("quotation", JSONB))
    op.add_column("emails", sa.Column("invoice", JSONB))
    op.add_column(
        "emails",
        sa.Column("attachments", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    )


def downgrade() -> None:
    op.drop_column("emails", "attachments")
    op.drop_column("emails", "invoice")
    op.drop_column("emails", "quotation")
