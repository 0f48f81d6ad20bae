"""Activity events that come before their case now wait in the shared held messages
(casestream.messaging.holding): the service's own ``deferred_events`` goes. Rows still in it
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
    # The events that waited in deferred_events now wait among the held messages, which
    # the previous release does not read: an empty table brought back would lose them.
    raise NotImplementedError(
        "0004 is not reversible: restore the database from before the upgrade instead"
    )
