"""Submission outcomes (attempt, contact outcome, suspected bots) and the case types read
model.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.add_column(
        "submissions", sa.Column("attempt", sa.Integer, nullable=False, server_default="1")
    )
    op.add_column("submissions", sa.Column("contact_outcome", sa.Text))
    op.add_column(
        "submissions",
        sa.Column("suspected_bot", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_check_constraint(
        "submissions_contact_outcome", "submissions", "contact_outcome IN ('created', 'matched')"
    )
    op.create_index(
        "submissions_status_newest",
        "submissions",
        ["status", sa.text("received_at DESC"), sa.text("id DESC")],
    )
    op.create_table(
        "case_types",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("instance", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("definition", JSONB, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("case_types")
    op.drop_index("submissions_status_newest", "submissions")
    op.drop_constraint("submissions_contact_outcome", "submissions")
    op.drop_column("submissions", "suspected_bot")
    op.drop_column("submissions", "contact_outcome")
    op.drop_column("submissions", "attempt")
