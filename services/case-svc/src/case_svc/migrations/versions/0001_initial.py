"""case-svc's first tables, with the outbox and inbox.

Revision ID: 0001
"""

from alembic import op

from casestream.persistence.tables import create_messaging_tables, drop_messaging_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Built from the table definitions while this is the only revision; the first schema
    # change must freeze this into explicit op.create_table calls before altering anything.
    from case_svc.tables import metadata

    metadata.create_all(op.get_bind())
    create_messaging_tables(op.get_bind())


def downgrade() -> None:
    from case_svc.tables import metadata

    drop_messaging_tables(op.get_bind())
    metadata.drop_all(op.get_bind())
