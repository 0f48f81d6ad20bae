"""The rate limits' counters, shared by every replica: posts per client address or form slug
in each one-minute window. UNLOGGED: counting writes no WAL, and losing the counts of the
last minute in a crash of the database is harmless.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "rate_counts",
        sa.Column("kind", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("window_start", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("n", sa.Integer, nullable=False),
        sa.CheckConstraint("kind IN ('client', 'form')", name="rate_counts_kind"),
        prefixes=["UNLOGGED"],
    )


def downgrade() -> None:
    # Counts of the last minute only: nothing is lost that matters.
    op.drop_table("rate_counts")
