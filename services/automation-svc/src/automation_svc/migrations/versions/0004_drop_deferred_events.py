"""Activity events that come before their case now wait in the shared parked messages
(casestream.messaging.parking): the service's own ``deferred_events`` goes. Rows still in it
would be lost, so the upgrade stops instead while any are left (the previous release hands
them on as their cases arrive).

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    waiting = op.get_bind().scalar(sa.text("SELECT count(*) FROM deferred_events"))
    if waiting:
        raise RuntimeError(
            f"{waiting} activity events still wait in deferred_events for their cases: run the "
            "previous release until the table is empty, then migrate again"
        )
    op.drop_table("deferred_events")


def downgrade() -> None:
    from sqlalchemy.dialects.postgresql import JSONB, UUID

    op.create_table(
        "deferred_events",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("case_id", UUID(as_uuid=True), nullable=False, index=True),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activity_id", UUID(as_uuid=True)),
        sa.Column("facts", JSONB, nullable=False),
    )
