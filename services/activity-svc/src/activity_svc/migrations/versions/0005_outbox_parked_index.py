"""The outbox's parked rows get an index of their own: the relay counts them without reading
the published rows it keeps for days.

Revision ID: 0005
"""

from alembic import op

from casestream.persistence.tables import add_parked_index, drop_parked_index

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_parked_index(op.get_bind())


def downgrade() -> None:
    drop_parked_index(op.get_bind())
