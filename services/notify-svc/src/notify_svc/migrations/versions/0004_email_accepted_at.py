"""Emails note when the SMTP server took them, the moment it says so (its own commit): a
worker killed before it recorded the batch's outcomes leaves the email known as taken, and
it is not sent again.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.add_column("emails", sa.Column("accepted_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("emails", "accepted_at")
