"""GET /dashboard/summary: the caseload by case type x status, my open cases, the available
pool and overdue activities, counted over what the caller may see.

The case counts come from ``case_counts``, kept by triggers on ``cases`` (migration 0003:
every write, whatever the code path) and keyed by instance, case type, status, active and
assignee: a few thousand rows at most, however many cases. That serves every instance where
the caller sees all cases. Where a token sees only its own cases, those are counted from
``cases`` itself (its assignee and creator indexes find them). Overdue activities are a
range scan of the scheduled activities' due times per instance, which the activity
projection keeps with the case's instance and active flag. bench/case_queries.py measured
plain queries at 200,000 cases first (over 200 ms, growing with the caseload): hence this."""

from collections import Counter
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel

from case_svc.activity_view import case_activities, overdue
from case_svc.configuration import statuses_by_name
from case_svc.permissions import access_to, visible_cases
from case_svc.tables import case_types, cases, instances, metadata
from casestream.http.auth import StaffUser
from casestream.persistence.database import Transaction

# Filled by the triggers on cases (migrations 0003 and 0007), never by this code.
case_counts = sa.Table(
    "case_counts",
    metadata,
    sa.Column("instance", sa.Text, primary_key=True),
    sa.Column("case_type", sa.Text, primary_key=True),
    sa.Column("status", sa.Text, primary_key=True),
    sa.Column("active", sa.Boolean, primary_key=True),
    sa.Column("assignee", sa.Text, primary_key=True),  # '' = none
    # Concurrent writers add to different slots of a key; readers sum them.
    sa.Column("slot", sa.SmallInteger, primary_key=True),
    sa.Column("n", sa.BigInteger, nullable=False),
)


class StatusCount(BaseModel):
    case_type: str
    case_type_title: str | None = None
    status: str
    status_label: str | None = None
    status_class: Literal["opened", "closed"]
    count: int


class DashboardSummary(BaseModel):
    instance: str | None = None
    # Every visible case, open or closed, by case type x status; ``status_class`` says which
    # statuses are closed (those cases are archived: not in my_open nor available).
    counts: list[StatusCount]
    closed_statuses: list[str]
    my_open: int  # active cases assigned to the caller
    available: int  # active cases with no assignee: the pool to take from
    overdue_activities: int  # scheduled activities due before now, on visible active cases
    as_of: datetime


async def summary(tx: Transaction, staff: StaffUser, instance: str | None) -> DashboardSummary:
    enabled = (
        await tx.session.execute(sa.select(instances.c.name).where(instances.c.enabled))
    ).scalars()
    scope = [i for i in enabled if instance in (None, i)]
    every = [i for i in scope if access_to(staff, i) == "all"]
    own = [i for i in scope if access_to(staff, i) == "own"]
    tally = _Tally(staff.user)
    now = sa.func.now()
    if every:
        tally.add(
            await tx.session.execute(
                sa.select(*_key(case_counts), sa.func.sum(case_counts.c.n))
                .where(case_counts.c.instance.in_(every))
                .group_by(*_key(case_counts))
            )
        )
        tally.overdue += (
            await tx.session.execute(
                sa.select(sa.func.count()).where(
                    overdue(now),
                    case_activities.c.case_active,
                    case_activities.c.instance.in_(every),
                )
            )
        ).scalar_one()
    if own:
        mine = sa.and_(visible_cases(staff), cases.c.instance.in_(own))
        key = [*_key(cases)[:3], sa.func.coalesce(cases.c.assignee, "")]
        tally.add(
            await tx.session.execute(sa.select(*key, sa.func.count()).where(mine).group_by(*key))
        )
        tally.overdue += (
            await tx.session.execute(
                sa.select(sa.func.count())
                .select_from(case_activities)
                .join(cases, cases.c.id == case_activities.c.case_id)
                .where(overdue(now), cases.c.active, mine)
            )
        ).scalar_one()
    return await tally.summary(tx, instance)


def _key(table: sa.Table) -> list[sa.Column]:
    return [table.c.case_type, table.c.status, table.c.active, table.c.assignee]


class _Tally:
    """Adds up rows of (case_type, status, active, assignee ('' = none), n)."""

    def __init__(self, user: str) -> None:
        self.user = user
        self.cells: Counter[tuple[str, str]] = Counter()
        self.my_open = self.available = self.overdue = 0

    def add(self, rows: Any) -> None:
        for case_type, status, active, assignee, n in rows:
            self.cells[(case_type, status)] += n
            if active and assignee == self.user:
                self.my_open += n
            elif active and assignee == "":
                self.available += n

    async def summary(self, tx: Transaction, instance: str | None) -> DashboardSummary:
        statuses = await statuses_by_name(tx)
        titles = dict(
            (await tx.session.execute(sa.select(case_types.c.name, case_types.c.title))).all()
        )
        counts = [
            StatusCount(
                case_type=case_type,
                case_type_title=titles.get(case_type),
                status=status,
                status_label=statuses[status].label,
                status_class=statuses[status].grouping,
                count=n,
            )
            for (case_type, status), n in self.cells.items()
            if n
        ]
        counts.sort(key=lambda c: (c.case_type, statuses[c.status].weight, c.status))
        return DashboardSummary(
            instance=instance,
            counts=counts,
            closed_statuses=sorted(s.name for s in statuses.values() if s.grouping == "closed"),
            my_open=self.my_open,
            available=self.available,
            overdue_activities=self.overdue,
            as_of=(await tx.session.execute(sa.select(sa.func.now()))).scalar_one(),
        )
