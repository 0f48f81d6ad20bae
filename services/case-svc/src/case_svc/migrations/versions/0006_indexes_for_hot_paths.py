"""Two indexes on hot paths: activities by case (the trigger on cases copies a case's
instance and active flag to its activities on every insert and update of cases: without it,
each one read the whole table), and the outbox's parked rows (the relay counts them without
reading the published rows it keeps for days).

Revision ID: 0006
"""

from alembic import op

from casestream.persistence.tables import add_parked_index, drop_parked_index

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_index("case_activities_case", "case_activities", ["case_id"])
    add_parked_index(op.get_bind())


def downgrade() -> None:
    drop_parked_index(op.get_bind())
    op.drop_index("case_activities_case", table_name="case_activities")
