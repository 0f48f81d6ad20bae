"""Finding cases and the dashboard: the activity projection behind next_activity_at, case
counters kept by triggers, text search (pg_trgm) and the indexes behind GET /cases.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0003"
down_revision = "0002"

# The same expressions as case_svc.finding's search: the planner matches them to these indexes.
CASE_TEXT = "(subject || ' ' || coalesce(details, ''))"
CONTACT_TEXT = (
    "(coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' || "
    "coalesce(display_name, '') || ' ' || coalesce(email, ''))"
)
COUNT_KEY = "instance, case_type, status, active, assignee, slot"


def _count(changes: str) -> str:
    """Add the net change per key of ``changes`` (rows of the key columns and d = +-1)."""
    return f"""
    INSERT INTO case_counts AS c ({COUNT_KEY}, n)
      SELECT instance, case_type, status, active, assignee, pg_backend_pid() % 8, sum(d)
      FROM ({changes}) changes
      GROUP BY instance, case_type, status, active, assignee
      HAVING sum(d) <> 0
      ORDER BY instance, case_type, status, active, assignee
    ON CONFLICT ({COUNT_KEY}) DO UPDATE SET n = c.n + excluded.n;"""


def _rows(table: str, d: int) -> str:
    return (
        f"SELECT instance, case_type, status, active, coalesce(assignee, '') AS assignee, "
        f"{d} AS d FROM {table}"
    )


# One statement-level function for the three triggers on cases: the counters take the net
# change of a whole statement (a bulk update is one upsert per key, in key order, so two
# writers lock counter rows in the same order), and an update that moves no case between
# keys writes nothing. ``slot`` spreads concurrent writers (one per connection) over
# several rows of the same key, so opening cases of one type does not queue on one row.
# The activity projection copies each case's instance and active flag for the overdue count.
# Each transition table exists only for its own event, hence one branch per event.
CASES_CHANGED = f"""
CREATE FUNCTION cases_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    {_count(_rows("old_rows", -1))}
    RETURN NULL;
  END IF;
  UPDATE case_activities a SET instance = n.instance, case_active = n.active
    FROM new_rows n
    WHERE a.case_id = n.id
      AND (a.instance IS DISTINCT FROM n.instance OR a.case_active IS DISTINCT FROM n.active);
  IF TG_OP = 'INSERT' THEN
    {_count(_rows("new_rows", 1))}
  ELSE
    {_count(_rows("new_rows", 1) + " UNION ALL " + _rows("old_rows", -1))}
  END IF;
  RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.create_table(
        "case_activities",
        sa.Column("activity_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("case_id", UUID(as_uuid=True), nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("instance", sa.Text),
        sa.Column("case_active", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    # A case's earliest scheduled activity; the overdue ones per instance (index-only).
    op.execute(
        "CREATE INDEX case_activities_next ON case_activities (case_id, due_at) "
        "WHERE status = 'scheduled'"
    )
    op.execute(
        "CREATE INDEX case_activities_overdue ON case_activities (instance, due_at) "
        "WHERE status = 'scheduled' AND case_active"
    )
    op.create_table(
        "case_counts",
        sa.Column("instance", sa.Text, nullable=False),
        sa.Column("case_type", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("assignee", sa.Text, nullable=False),  # '' = none: the available pool
        sa.Column("slot", sa.SmallInteger, nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(*COUNT_KEY.split(", ")),
    )
    op.execute(CASES_CHANGED)
    for event, tables in (
        ("INSERT", "NEW TABLE AS new_rows"),
        ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        ("DELETE", "OLD TABLE AS old_rows"),
    ):
        op.execute(
            f"CREATE TRIGGER cases_changed_{event.lower()} AFTER {event} ON cases "
            f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION cases_changed()"
        )
    op.execute(
        f"INSERT INTO case_counts ({COUNT_KEY}, n) "
        "SELECT instance, case_type, status, active, coalesce(assignee, ''), 0, count(*) "
        "FROM cases GROUP BY 1, 2, 3, 4, 5"
    )
    # Substring search (ILIKE '%word%') in subject, details and client names/emails. pg_trgm
    # is a trusted extension: the database owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(f"CREATE INDEX cases_text_trgm ON cases USING gin ({CASE_TEXT} gin_trgm_ops)")
    op.execute(
        f"CREATE INDEX contacts_text_trgm ON contacts USING gin ({CONTACT_TEXT} gin_trgm_ops)"
    )
    op.execute("CREATE INDEX cases_tags ON cases USING gin (tags jsonb_path_ops)")
    # Sorts and filters the default index (cases_list: active, created_at, id) does not serve.
    op.create_index("cases_newest", "cases", ["created_at", "id"])  # active=all
    op.create_index("cases_by_update", "cases", ["active", "updated_at", "id"])
    op.create_index("cases_by_subject", "cases", ["active", "subject", "id"])
    op.create_index("cases_by_start", "cases", ["start_date"])
    # assignee=me / none, newest first; with created_by: what an own-only token sees.
    op.create_index("cases_by_assignee", "cases", ["assignee", "active", "created_at", "id"])
    op.create_index("cases_by_creator", "cases", ["created_by"])


def downgrade() -> None:
    for index in (
        "cases_by_creator",
        "cases_by_assignee",
        "cases_by_start",
        "cases_by_subject",
        "cases_by_update",
        "cases_newest",
        "cases_tags",
        "cases_text_trgm",
    ):
        op.drop_index(index, table_name="cases")
    op.drop_index("contacts_text_trgm", table_name="contacts")
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER cases_changed_{event} ON cases")
    op.execute("DROP FUNCTION cases_changed()")
    op.drop_table("case_counts")
    op.drop_table("case_activities")
