"""case-svc's first tables, with the outbox and inbox.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from casestream.persistence.tables import create_messaging_tables, drop_messaging_tables

revision = "0001"
down_revision = None

now = sa.func.now()


def ts(name: str, **kw):
    return sa.Column(name, sa.DateTime(timezone=True), **kw)


def upgrade() -> None:
    op.create_table(
        "instances",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("singular_label", sa.Text, nullable=False),
        sa.Column("instance_type", sa.Text, nullable=False),
        sa.Column("features", JSONB, nullable=False, server_default="[]"),
        sa.Column("description", sa.Text),
        sa.Column("weight", sa.Integer, nullable=False, server_default="0"),
        sa.Column("icon", sa.Text),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        ts("created_at", nullable=False, server_default=now),
    )
    op.create_table(
        "case_statuses",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("grouping", sa.Text, nullable=False),
        sa.Column("weight", sa.Integer, nullable=False, server_default="0"),
        sa.Column("probability", sa.Integer),
    )
    op.create_table(
        "case_types",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("instance", sa.Text, sa.ForeignKey("instances.name"), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("definition", JSONB, nullable=False),
        ts("updated_at", nullable=False, server_default=now),
    )
    op.create_table(
        "case_type_versions",
        sa.Column("name", sa.Text, sa.ForeignKey("case_types.name"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("definition", JSONB, nullable=False),
        ts("published_at", nullable=False, server_default=now),
    )
    op.create_table(
        "contacts",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("contact_type", sa.Text, nullable=False, server_default="individual"),
        sa.Column("first_name", sa.Text),
        sa.Column("last_name", sa.Text),
        sa.Column("display_name", sa.Text),
        sa.Column("email", sa.Text),
        sa.Column("phone", sa.Text),
        sa.Column("do_not_email", sa.Boolean, nullable=False, server_default=sa.false()),
        ts("created_at", nullable=False, server_default=now),
        ts("updated_at", nullable=False, server_default=now),
    )
    op.create_index("contacts_email_lower", "contacts", [sa.text("lower(email)")])
    op.create_table(
        "cases",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("instance", sa.Text, nullable=False),
        sa.Column("case_type", sa.Text, sa.ForeignKey("case_types.name"), nullable=False),
        sa.Column("case_type_version", sa.Integer, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("details", sa.Text),
        sa.Column("status", sa.Text, sa.ForeignKey("case_statuses.name"), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("assignee", sa.Text),
        sa.Column("custom", JSONB, nullable=False, server_default="{}"),
        sa.Column("tags", JSONB, nullable=False, server_default="[]"),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("end_date", sa.Date),
        ts("next_activity_at"),
        sa.Column("source_submission_id", UUID(as_uuid=True), unique=True),
        ts("created_at", nullable=False, server_default=now),
        ts("updated_at", nullable=False, server_default=now),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    )
    op.create_index("cases_list", "cases", ["active", "created_at", "id"])
    op.create_table(
        "case_clients",
        sa.Column("case_id", UUID(as_uuid=True), sa.ForeignKey("cases.id"), primary_key=True),
        sa.Column("contact_id", UUID(as_uuid=True), sa.ForeignKey("contacts.id"), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_index("case_clients_contact", "case_clients", ["contact_id"])
    op.create_table(
        "case_history",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("case_id", UUID(as_uuid=True), sa.ForeignKey("cases.id"), nullable=False),
        ts("at", nullable=False, server_default=now),
        sa.Column("actor", sa.Text),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("changes", JSONB, nullable=False),
    )
    op.create_index("case_history_case", "case_history", ["case_id", "id"])
    create_messaging_tables(op.get_bind())


def downgrade() -> None:
    drop_messaging_tables(op.get_bind())
    for table in (
        "case_history",
        "case_clients",
        "cases",
        "contacts",
        "case_type_versions",
        "case_types",
        "case_statuses",
        "instances",
    ):
        op.drop_table(table)
