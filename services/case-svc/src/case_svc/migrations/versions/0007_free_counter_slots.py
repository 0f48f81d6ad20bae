"""Counter slots taken, not guessed: each transaction that changes cases adds to a slot of
``case_counts`` no other open transaction holds.

The slot was ``pg_backend_pid() % 8``. Two connections with the same remainder (a third of
the time for three writers) queued on the same counter rows, and a consumer's transaction
holds them until its whole batch commits: under load, inserting a case waited ~5 ms on
another batch. Now the trigger takes the first free slot, starting at the connection's own,
with a transaction-scoped advisory lock (``pg_try_advisory_xact_lock`` never waits); only
with more than eight writers at once does one wait, as before.

Revision ID: 0007
"""

from alembic import op

revision = "0007"
down_revision = "0006"

COUNT_KEY = "instance, case_type, status, active, assignee, slot"
SLOTS = 8

# The advisory lock's two-int form (its own key space): the first int names the counters.
CASE_COUNTS_SLOT = f"""
CREATE FUNCTION case_counts_slot() RETURNS smallint LANGUAGE plpgsql AS $$
DECLARE
  own int := pg_backend_pid() % {SLOTS};
BEGIN
  FOR i IN 0..{SLOTS - 1} LOOP
    IF pg_try_advisory_xact_lock(hashtext('case_counts'), (own + i) % {SLOTS}) THEN
      RETURN (own + i) % {SLOTS};
    END IF;
  END LOOP;
  RETURN own;
END $$
"""


def _count(changes: str, slot: str) -> str:
    """Add the net change per key of ``changes`` (rows of the key columns and d = +-1)."""
    return f"""
    INSERT INTO case_counts AS c ({COUNT_KEY}, n)
      SELECT instance, case_type, status, active, assignee, {slot}, sum(d)
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


def _cases_changed(slot: str) -> str:
    """Migration 0003's function, with ``slot`` as the counters' slot."""
    return f"""
CREATE OR REPLACE FUNCTION cases_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    {_count(_rows("old_rows", -1), slot)}
    RETURN NULL;
  END IF;
  UPDATE case_activities a SET instance = n.instance, case_active = n.active
    FROM new_rows n
    WHERE a.case_id = n.id
      AND (a.instance IS DISTINCT FROM n.instance OR a.case_active IS DISTINCT FROM n.active);
  IF TG_OP = 'INSERT' THEN
    {_count(_rows("new_rows", 1), slot)}
  ELSE
    {_count(_rows("new_rows", 1) + " UNION ALL " + _rows("old_rows", -1), slot)}
  END IF;
  RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.execute(CASE_COUNTS_SLOT)
    op.execute(_cases_changed("case_counts_slot()"))


def downgrade() -> None:
    op.execute(_cases_changed(f"pg_backend_pid() % {SLOTS}"))
    op.execute("DROP FUNCTION case_counts_slot()")
