"""Held messages: what came before what it needs, kept until it arrives
(casestream.messaging.holding). The first revision of the shared ``messaging`` branch, which
every service's database gets beside its own.

Revision ID: messaging_0001
"""

from alembic import op

from casestream.persistence.tables import held_messages, messaging_metadata

revision = "messaging_0001"
down_revision = None
branch_labels = ("messaging",)


def upgrade() -> None:
    messaging_metadata.create_all(op.get_bind(), tables=[held_messages])


def downgrade() -> None:
    messaging_metadata.drop_all(op.get_bind(), tables=[held_messages])
