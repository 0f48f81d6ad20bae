"""The sales pipeline's totals, kept by triggers on ``cases`` as ``case_counts`` is.

``pipeline_totals``: the opportunities of sales-opportunity instances, counted and summed
(in cents, and amount in cents x probability: integers sum several times faster than
numerics, and exactly) by instance, case type, status, active, owner
(assignee, '' = none), currency ('' = none) and expected-close month ('infinity' = none, and
for closed cases, which no forecast needs: it keeps the table small).
``pipeline_closings``: those closed won or lost (the close outcome, any case), by the day
they closed, with the days they were open: the win rate over any period.
``pipeline_opened`` and ``pipeline_opened_closings``: the same, of the opportunities a user
opened and someone else (or no one) holds, keyed first by that opener: what an own-cases
token sees besides what it holds.

Both are added to in the counters' slot (``case_counts_slot()``, migration 0007), so
concurrent writers do not queue on one row; readers sum the slots. At 200,000 opportunities
they hold a few thousand rows.

Revision ID: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"

TOTALS_KEY = "instance, case_type, status, active, owner, currency, close_month"
CLOSINGS_KEY = "instance, case_type, owner, currency, outcome, closed_on"
# (table, its key) of everything, and of what was opened for others (by its opener).
TOTALS = [("pipeline_totals", TOTALS_KEY), ("pipeline_opened", f"opener, {TOTALS_KEY}")]
CLOSINGS = [
    ("pipeline_closings", CLOSINGS_KEY),
    ("pipeline_opened_closings", f"opener, {CLOSINGS_KEY}"),
]

# An opportunity row of a case row ``r``: only for cases of sales-opportunity instances.
_AMOUNT = "coalesce(round((r.opportunity->>'amount')::numeric * 100)::bigint, 0)"
_OPPORTUNITY = f"""
  SELECT r.instance, r.case_type, r.status, r.active, coalesce(r.assignee, '') AS owner,
         CASE WHEN r.created_by IS DISTINCT FROM r.assignee THEN coalesce(r.created_by, '')
              ELSE '' END AS opener,
         coalesce(r.opportunity->>'currency', '') AS currency,
         CASE WHEN r.active THEN coalesce(
           date_trunc('month', (r.opportunity->>'expected_close_date')::date)::date,
           'infinity') ELSE 'infinity' END AS close_month,
         {_AMOUNT} AS amount,
         {_AMOUNT} * coalesce((r.opportunity->>'probability')::int, 0) AS weighted,
         lower(r.outcome) AS outcome, r.end_date AS closed_on,
         r.end_date - r.start_date AS days_open,
         {{d}} AS d
  FROM {{table}} r JOIN instances i ON i.name = r.instance
  WHERE i.instance_type = 'sales_opportunity'"""


def _rows(table: str, d: int) -> str:
    return _OPPORTUNITY.format(table=table, d=d)


def _add(changes: str, slot: str) -> list[str]:
    """The statements that add ``changes`` (opportunity rows with d = +-1) to each table."""
    statements = []
    for table, key in TOTALS:
        opened = "WHERE opener <> ''" if table == "pipeline_opened" else ""
        statements.append(f"""
    INSERT INTO {table} AS t ({key}, slot, n, amount, weighted)
      SELECT {key}, {slot}, sum(d), sum(d * amount), sum(d * weighted)
      FROM ({changes}) changes {opened}
      GROUP BY {key}
      HAVING sum(d) <> 0 OR sum(d * amount) <> 0 OR sum(d * weighted) <> 0
      ORDER BY {key}
    ON CONFLICT ({key}, slot) DO UPDATE
      SET n = t.n + excluded.n, amount = t.amount + excluded.amount,
          weighted = t.weighted + excluded.weighted""")
    for table, key in CLOSINGS:
        opened = "AND opener <> ''" if table == "pipeline_opened_closings" else ""
        statements.append(f"""
    INSERT INTO {table} AS c ({key}, slot, n, amount, days_open)
      SELECT {key}, {slot}, sum(d), sum(d * amount), sum(d * days_open)
      FROM ({changes}) changes
      WHERE NOT active AND outcome IN ('won', 'lost') AND closed_on IS NOT NULL {opened}
      GROUP BY {key}
      HAVING sum(d) <> 0 OR sum(d * amount) <> 0 OR sum(d * days_open) <> 0
      ORDER BY {key}
    ON CONFLICT ({key}, slot) DO UPDATE
      SET n = c.n + excluded.n, amount = c.amount + excluded.amount,
          days_open = c.days_open + excluded.days_open""")
    return statements


def _body(changes: str) -> str:
    return ";\n".join(_add(changes, "case_counts_slot()")) + ";"


OPPORTUNITIES_CHANGED = f"""
CREATE FUNCTION opportunities_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    {_body(_rows("new_rows", 1))}
  ELSIF TG_OP = 'DELETE' THEN
    {_body(_rows("old_rows", -1))}
  ELSE
    {_body(_rows("new_rows", 1) + " UNION ALL " + _rows("old_rows", -1))}
  END IF;
  RETURN NULL;
END $$
"""


def _totals_columns() -> list[sa.Column]:
    return [
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("close_month", sa.Date, nullable=False),
        sa.Column("slot", sa.SmallInteger, nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),  # cents
        sa.Column("weighted", sa.BigInteger, nullable=False),  # cents x probability (%)
    ]


def _closings_columns() -> list[sa.Column]:
    return [
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("closed_on", sa.Date, nullable=False),
        sa.Column("slot", sa.SmallInteger, nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),  # cents
        sa.Column("days_open", sa.BigInteger, nullable=False),
    ]


def upgrade() -> None:
    for (table, key), columns in (
        (TOTALS[0], _totals_columns),
        (CLOSINGS[0], _closings_columns),
        (TOTALS[1], _totals_columns),
        (CLOSINGS[1], _closings_columns),
    ):
        opener = [sa.Column("opener", sa.Text, nullable=False)] if "opener" in key else []
        op.create_table(
            table,
            *opener,
            sa.Column("instance", sa.Text, nullable=False),
            sa.Column("case_type", sa.Text, nullable=False),
            *columns(),
            sa.PrimaryKeyConstraint(*key.split(", "), "slot"),
        )
    op.execute(OPPORTUNITIES_CHANGED)
    for event, tables in (
        ("INSERT", "NEW TABLE AS new_rows"),
        ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        ("DELETE", "OLD TABLE AS old_rows"),
    ):
        op.execute(
            f"CREATE TRIGGER opportunities_changed_{event.lower()} AFTER {event} ON cases "
            f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION opportunities_changed()"
        )
    for statement in _add(_rows("cases", 1), "0"):
        op.execute(statement)


def downgrade() -> None:
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER opportunities_changed_{event} ON cases")
    op.execute("DROP FUNCTION opportunities_changed()")
    for table, _ in TOTALS + CLOSINGS:
        op.drop_table(table)
