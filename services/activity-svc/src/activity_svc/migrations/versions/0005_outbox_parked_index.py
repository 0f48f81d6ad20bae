"""The outbox's parked rows get an index of their own: the relay counts them without reading
the published rows it keeps for days.

Revision ID: 0005
"""

# The same step in every service (the outbox is the same table in each): alembic calls these.
from casestream.persistence.outbox_revisions import parked_index_downgrade as downgrade  # noqa: F401
from casestream.persistence.outbox_revisions import parked_index_upgrade as upgrade  # noqa: F401

revision = "0005"
down_revision = "0004"
