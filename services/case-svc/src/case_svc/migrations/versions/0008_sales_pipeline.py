"""The sales pipeline's totals, kept by triggers on ``cases`` as ``case_counts`` is.

``pipeline_totals``: the opportunities of sales-opportunity instances, counted and summed
(in cents, and amount in cents x probability: integers sum several times faster than
numerics, and exactly) by instance, case type, status, active, owner
(assignee, '' = none), currency ('' = none) and expected-close month ('infinity' = none, and
for closed cases, which no forecast needs: it keeps the table small).
``pipeline_closings``: those closed won or lost (the close outcome, any case), by the day
they closed, with the days they were open: the win rate over any period.

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

# An opportunity row of a case row ``r``: only for cases of sales-opportunity instances.
_AMOUNT = "coalesce(round((r.opportunity->>'amount')::numeric * 100)::bigint, 0)"
_OPPORTUNITY = f"""
  SELECT r.instance, r.case_type, r.status, r.active, coalesce(r.assignee, '') AS owner,
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
    """The two statements that add ``changes`` (opportunity rows with d = +-1)."""
    totals = f"""
    INSERT INTO pipeline_totals AS t ({TOTALS_KEY}, slot, n, amount, weighted)
      SELECT {TOTALS_KEY}, {slot}, sum(d), sum(d * amount), sum(d * weighted)
      FROM ({changes}) changes
      GROUP BY {TOTALS_KEY}
      HAVING sum(d) <> 0 OR sum(d * amount) <> 0 OR sum(d * weighted) <> 0
      ORDER BY {TOTALS_KEY}
    ON CONFLICT ({TOTALS_KEY}, slot) DO UPDATE
      SET n = t.n + excluded.n, amount = t.amount + excluded.amount,
          weighted = t.weighted + excluded.weighted"""
    closings = f"""
    INSERT INTO pipeline_closings AS c ({CLOSINGS_KEY}, slot, n, amount, days_open)
      SELECT {CLOSINGS_KEY}, {slot}, sum(d), sum(d * amount), sum(d * days_open)
      FROM ({changes}) changes
      WHERE NOT active AND outcome IN ('won', 'lost') AND closed_on IS NOT NULL
      GROUP BY {CLOSINGS_KEY}
      HAVING sum(d) <> 0 OR sum(d * amount) <> 0 OR sum(d * days_open) <> 0
      ORDER BY {CLOSINGS_KEY}
    ON CONFLICT ({CLOSINGS_KEY}, slot) DO UPDATE
      SET n = c.n + excluded.n, amount = c.amount + excluded.amount,
          days_open = c.days_open + excluded.days_open"""
    return [totals, closings]


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


def upgrade() -> None:
    key = [sa.Column(name, sa.Text, nullable=False) for name in ("instance", "case_type")]
    op.create_table(
        "pipeline_totals",
        *key,
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("close_month", sa.Date, nullable=False),
        sa.Column("slot", sa.SmallInteger, nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),  # cents
        sa.Column("weighted", sa.BigInteger, nullable=False),  # cents x probability (%)
        sa.PrimaryKeyConstraint(*TOTALS_KEY.split(", "), "slot"),
    )
    op.create_table(
        "pipeline_closings",
        *[sa.Column(c.name, sa.Text, nullable=False) for c in key],
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("closed_on", sa.Date, nullable=False),
        sa.Column("slot", sa.SmallInteger, nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),  # cents
        sa.Column("days_open", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(*CLOSINGS_KEY.split(", "), "slot"),
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
    op.drop_table("pipeline_closings")
    op.drop_table("pipeline_totals")
