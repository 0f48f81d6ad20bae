"""The full case lifecycle: roles, links, outcomes, opportunities, merges.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.add_column("contacts", sa.Column("merged_into", UUID(as_uuid=True)))
    for column in (
        sa.Column("opportunity", JSONB),
        sa.Column("outcome", sa.Text),
        sa.Column("lost_reason", sa.Text),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("merged_into", UUID(as_uuid=True)),
        sa.Column("created_by", sa.Text),
    ):
        op.add_column("cases", column)
    op.create_table(
        "case_roles",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("case_id", UUID(as_uuid=True), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("contact_id", UUID(as_uuid=True), sa.ForeignKey("contacts.id"), nullable=False),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("end_date", sa.Date),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_index("case_roles_case", "case_roles", ["case_id"])
    op.create_index("case_roles_contact", "case_roles", ["contact_id"])
    op.create_table(
        "case_links",
        sa.Column("case_id", UUID(as_uuid=True), sa.ForeignKey("cases.id"), primary_key=True),
        sa.Column(
            "linked_case_id", UUID(as_uuid=True), sa.ForeignKey("cases.id"), primary_key=True
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )


def downgrade() -> None:
    op.drop_table("case_links")
    op.drop_table("case_roles")
    for column in (
        "created_by",
        "merged_into",
        "closed_at",
        "lost_reason",
        "outcome",
        "opportunity",
    ):
        op.drop_column("cases", column)
    op.drop_column("contacts", "merged_into")
