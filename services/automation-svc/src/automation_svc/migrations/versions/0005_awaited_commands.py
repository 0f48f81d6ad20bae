"""Commands awaiting their outcome: each command a rule sends is kept until its outcome comes,
and sent again when none came in time (issue 12).

Commands sent before this revision are not awaited: nobody kept what became of them, and
sending the whole history again would be a flood.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "awaited_commands",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("envelope", JSONB, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
        sa.Column(
            "sent_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_index("awaited_commands_sent", "awaited_commands", ["sent_at"])


def downgrade() -> None:
    op.drop_table("awaited_commands")
