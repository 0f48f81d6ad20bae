"""Emails keep the triggering activity (for {{ activity.* }} tokens), and the message as
first sent plus the notes on unresolved recipients, so that retries send the same bytes.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.add_column("emails", sa.Column("activity", JSONB))
    op.add_column("emails", sa.Column("raw_message", sa.LargeBinary))
    op.add_column("emails", sa.Column("unresolved", sa.Text))


def downgrade() -> None:
    op.drop_column("emails", "unresolved")
    op.drop_column("emails", "raw_message")
    op.drop_column("emails", "activity")
