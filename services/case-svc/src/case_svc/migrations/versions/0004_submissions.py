"""Web form submissions: what became of each one, and finding contacts by name and phone.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    # One row per submission that opened a case or joined one: sent again, it opens nothing
    # new and its outcome is said again. Rejections leave no row (a retry tries afresh).
    op.create_table(
        "submission_outcomes",
        sa.Column("submission_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("outcome", sa.Text, nullable=False),  # case_opened | attached
        sa.Column("case_id", UUID(as_uuid=True), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("contact_id", UUID(as_uuid=True), sa.ForeignKey("contacts.id"), nullable=False),
        sa.Column("contact", sa.Text),  # created | matched; unknown for those backfilled
        sa.Column(
            "handled_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    # Submissions handled before this table existed opened cases; their first client is the
    # contact the submission became.
    op.execute(
        "INSERT INTO submission_outcomes (submission_id, outcome, case_id, contact_id) "
        "SELECT c.source_submission_id, 'case_opened', c.id, first.contact_id FROM cases c "
        "JOIN LATERAL (SELECT contact_id FROM case_clients WHERE case_id = c.id "
        "ORDER BY position LIMIT 1) first ON true "
        "WHERE c.source_submission_id IS NOT NULL"
    )
    # The duplicate-contact rule email_or_name_phone: the same names (the phone's digits are
    # compared on the few rows these find). The same expressions as case_svc.contacts.
    op.execute(
        "CREATE INDEX contacts_name ON contacts (lower(btrim(last_name)), lower(btrim(first_name)))"
    )


def downgrade() -> None:
    op.drop_index("contacts_name", table_name="contacts")
    op.drop_table("submission_outcomes")
