"""The cases read model (``casestream.persistence.read_models.cases_table``): each case's
newest state from case.events, so that submissions follow their case's visibility. Its
consumer group is new and reads case.events from the start, which fills it.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("state", JSONB, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    # A read model only; to fill it again after an upgrade, reset the consumer group
    # (intake-svc.cases) to the start of case.events.
    op.drop_table("cases")
