"""One read model of cases (``cases``) instead of two (``case_view`` for who may see a case's
activities, ``timeline_cases`` for timelines), kept by one consumer group. Each row carries
over the newer copy's state, at the older copy's version so that a re-read of case.events
brings both parts up to date, and how far timelines had got (``timeline_version``).

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("instance", sa.Text, nullable=False),
        sa.Column("case_type", sa.Text, nullable=False),
        sa.Column("case_type_version", sa.Integer),
        sa.Column("start_date", sa.Date),
        sa.Column("status", sa.Text),
        sa.Column("status_class", sa.Text),
        sa.Column("assignee", sa.Text),
        sa.Column("created_by", sa.Text),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("client_ids", JSONB, nullable=False, server_default="[]"),
        sa.Column("merged_into", UUID(as_uuid=True)),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("timeline_version", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("cases_assignee", "cases", ["assignee"])
    op.create_index("cases_created_by", "cases", ["created_by"])
    op.execute(
        """
        INSERT INTO cases (id, instance, case_type, case_type_version, start_date, status,
                           status_class, assignee, created_by, active, client_ids, merged_into,
                           version, timeline_version)
        SELECT coalesce(v.id, t.case_id),
               CASE WHEN t.version > v.version OR v.id IS NULL THEN t.instance ELSE v.instance END,
               CASE WHEN t.version > v.version OR v.id IS NULL THEN t.case_type
                    ELSE v.case_type END,
               t.case_type_version, t.start_date, v.status, v.status_class,
               CASE WHEN t.version > v.version OR v.id IS NULL THEN t.assignee ELSE v.assignee END,
               coalesce(v.created_by, t.created_by),
               CASE WHEN t.version > v.version OR v.id IS NULL THEN t.active ELSE v.active END,
               coalesce(v.client_ids, '[]'::jsonb), v.merged_into,
               -- One side only: 0, so that any event of the case fills in the other side.
               CASE WHEN v.id IS NULL OR t.case_id IS NULL THEN 0
                    ELSE least(v.version, t.version) END,
               coalesce(t.version, 0)
        FROM case_view v FULL OUTER JOIN timeline_cases t ON t.case_id = v.id
        """
    )
    op.drop_table("case_view")
    op.drop_table("timeline_cases")


def downgrade() -> None:
    raise NotImplementedError("0006 merged two read models into one: restore from a backup")
