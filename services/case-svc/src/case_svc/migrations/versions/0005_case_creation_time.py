"""A case's created_at is the moment it was written, not its transaction's start.

Consumers handle a batch of messages in one transaction, where now() is the same for every
case the batch opens; "the contact's newest open case" must still tell them apart.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.alter_column("cases", "created_at", server_default=sa.text("clock_timestamp()"))


def downgrade() -> None:
    op.alter_column("cases", "created_at", server_default=sa.text("now()"))
