"""GET /dashboard/pipeline: the sales pipeline of sales-opportunity instances, over what the
caller may see: per status, a forecast by expected-close month, the win rate over a period,
per owner, and the invoices overdue. Money is summed per currency, never across currencies.

The figures come from ``pipeline_totals`` and ``pipeline_closings``, kept by triggers on
``cases`` (migration 0008): a few thousand rows however many opportunities. A token that sees
only its own cases (those it holds or opened) reads the totals of those it holds, and
``pipeline_opened`` / ``pipeline_opened_closings``, the same kept per opener, for those it
opened that someone else (or no one) holds.

Amounts are summed exactly, as integers (cents, and cents x probability); a weighted amount
(amount x probability / 100) is rounded once, at the end, to cents, half up."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel

from case_svc.configuration import statuses_by_name
from case_svc.permissions import access_to, visible_cases
from case_svc.tables import cases, instances, invoices, metadata
from casestream.http.auth import StaffUser
from casestream.persistence.database import Transaction


def _totals_table(name: str, *opener: sa.Column) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        *opener,
        sa.Column("instance", sa.Text, primary_key=True),
        sa.Column("case_type", sa.Text, primary_key=True),
        sa.Column("status", sa.Text, primary_key=True),
        sa.Column("active", sa.Boolean, primary_key=True),
        sa.Column("owner", sa.Text, primary_key=True),  # '' = none
        sa.Column("currency", sa.Text, primary_key=True),  # '' = none
        sa.Column("close_month", sa.Date, primary_key=True),  # 'infinity': none, or closed
        sa.Column("slot", sa.SmallInteger, primary_key=True),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),  # cents
        sa.Column("weighted", sa.BigInteger, nullable=False),  # cents x probability (%)
    )


def _closings_table(name: str, *opener: sa.Column) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        *opener,
        sa.Column("instance", sa.Text, primary_key=True),
        sa.Column("case_type", sa.Text, primary_key=True),
        sa.Column("owner", sa.Text, primary_key=True),
        sa.Column("currency", sa.Text, primary_key=True),
        sa.Column("outcome", sa.Text, primary_key=True),  # won, lost
        sa.Column("closed_on", sa.Date, primary_key=True),
        sa.Column("slot", sa.SmallInteger, primary_key=True),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),  # cents
        sa.Column("days_open", sa.BigInteger, nullable=False),
    )


def _opener() -> sa.Column:
    return sa.Column("opener", sa.Text, primary_key=True)


# Filled by the triggers on cases (migration 0008), never by this code. The "opened" ones:
# opportunities a user opened that someone else (or no one) holds, by that user.
pipeline_totals = _totals_table("pipeline_totals")
pipeline_closings = _closings_table("pipeline_closings")
pipeline_opened = _totals_table("pipeline_opened", _opener())
pipeline_opened_closings = _closings_table("pipeline_opened_closings", _opener())

CENT = Decimal("0.01")


@dataclass(frozen=True)
class PipelineFilters:
    instance: str | None = None
    case_type: str | None = None
    owner: str | None = None  # a user, '' for none
    currency: str | None = None
    closed_from: date | None = None
    closed_to: date | None = None


class Amounts(BaseModel):
    currency: str | None
    count: int
    amount: str
    weighted_amount: str


class StatusLine(Amounts):
    status: str
    status_label: str
    status_class: Literal["opened", "closed"]
    probability: int | None  # the status's default


class MonthLine(Amounts):
    # "2027-01", or "past_due": every open opportunity expected to close before this month.
    month: str


class OwnerLine(Amounts):
    owner: str | None  # None: in the pool, no one's


class CurrencyWins(BaseModel):
    currency: str | None
    won: int
    lost: int
    won_amount: str
    lost_amount: str
    by_amount: float | None  # won / (won + lost), by amount


class WinRate(BaseModel):
    closed_from: date
    closed_to: date
    won: int
    lost: int
    by_count: float | None  # won / (won + lost); None when none closed
    average_days_to_win: float | None  # from the start date to the close, of those won
    by_currency: list[CurrencyWins]


class OverdueInvoices(BaseModel):
    currency: str
    count: int  # issued, due before today, not paid
    amount_due: str  # what remains to be paid of them


class Pipeline(BaseModel):
    instance: str | None
    by_status: list[StatusLine]  # in status order, then currency
    forecast: list[MonthLine]  # open ones: past due, then this month and the 11 after
    win_rate: WinRate
    by_owner: list[OwnerLine]  # open ones
    overdue_invoices: list[OverdueInvoices]
    as_of: datetime


@dataclass
class _Sum:
    """Counted, in cents, and in cents x probability (exact integers)."""

    n: int = 0
    amount: int = 0
    weighted: int = 0

    def add(self, n: int, amount: int, weighted: int) -> None:
        self.n += n
        self.amount += amount
        self.weighted += weighted


@dataclass
class _Tally:
    today: date
    statuses: dict[tuple[str, str], _Sum] = field(default_factory=lambda: defaultdict(_Sum))
    months: dict[tuple[str, str], _Sum] = field(default_factory=lambda: defaultdict(_Sum))
    owners: dict[tuple[str, str], _Sum] = field(default_factory=lambda: defaultdict(_Sum))
    closings: dict[tuple[str, str], _Sum] = field(default_factory=lambda: defaultdict(_Sum))
    days_to_win: int = 0

    def add_totals(self, rows: Any) -> None:
        """Rows of ``_grouped``: per status, per owner and per close month, each per currency.
        Months before this one fold into one past-due line; 'infinity' (no date, or closed)
        reads as date.max, in no month."""
        this_month = self.today.replace(day=1)
        horizon = _add_months(this_month, 12)
        for mask, status, owner, month, currency, *sums in rows:
            every, open_ = _Sum(*_zeroed(sums[:3])), _Sum(*_zeroed(sums[3:]))
            if mask == BY_STATUS:
                self.statuses[(status, currency)].add(every.n, every.amount, every.weighted)
            elif not open_.n:
                continue
            elif mask == BY_OWNER:
                self.owners[(owner, currency)].add(open_.n, open_.amount, open_.weighted)
            elif mask == BY_MONTH and month < horizon:
                line = "past_due" if month < this_month else f"{month:%Y-%m}"
                self.months[(line, currency)].add(open_.n, open_.amount, open_.weighted)

    def add_closings(self, rows: Any) -> None:
        """Rows of (outcome, currency, n, amount, days_open)."""
        for outcome, currency, n, amount, days_open in rows:
            self.closings[(outcome, currency)].add(n, amount, 0)
            if outcome == "won":
                self.days_to_win += days_open


def _add_months(month: date, k: int) -> date:
    index = month.year * 12 + month.month - 1 + k
    return date(index // 12, index % 12 + 1, 1)


def _money(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def _cents(amount: int) -> str:
    return _money(Decimal(amount) / 100)


def _weighted(amount_x_probability: int) -> str:
    return _money(Decimal(amount_x_probability) / 10000)


def _amounts(currency: str, s: _Sum) -> dict[str, Any]:
    return {
        "currency": currency or None,
        "count": s.n,
        "amount": _cents(s.amount),
        "weighted_amount": _weighted(s.weighted),
    }


def _ratio(part: Decimal | int, whole: Decimal | int) -> float | None:
    return round(float(Decimal(part) / Decimal(whole)), 4) if whole else None


async def pipeline(
    tx: Transaction, staff: StaffUser, filters: PipelineFilters, now: datetime
) -> Pipeline:
    """As of ``now`` (the service's clock): this month, today's overdue invoices."""
    today = now.date()
    closed_to = filters.closed_to or today
    closed_from = filters.closed_from or closed_to - timedelta(days=364)
    sales = (
        await tx.session.execute(
            sa.select(instances.c.name).where(
                instances.c.enabled, instances.c.instance_type == "sales_opportunity"
            )
        )
    ).scalars()
    scope = [i for i in sales if filters.instance in (None, i)]
    every = [i for i in scope if access_to(staff, i) == "all"]
    own = [i for i in scope if access_to(staff, i) == "own"]
    tally = _Tally(today)
    if every:
        tally.add_totals(await tx.session.execute(_grouped(_totals(every, filters))))
        tally.add_closings(
            await tx.session.execute(_closings(every, filters, closed_from, closed_to))
        )
    if own:
        # A token's own cases are those it holds (the totals' owner) and those it opened
        # for someone else (or for the pool): only these are summed case by case.
        held = PipelineFilters(**{**vars(filters), "owner": staff.user})
        if filters.owner in (None, staff.user):
            tally.add_totals(await tx.session.execute(_grouped(_totals(own, held))))
            tally.add_closings(
                await tx.session.execute(_closings(own, held, closed_from, closed_to))
            )
        opened = [pipeline_opened.c.opener == staff.user]
        tally.add_totals(
            await tx.session.execute(_grouped(_totals(own, filters, pipeline_opened, *opened)))
        )
        opened = [pipeline_opened_closings.c.opener == staff.user]
        closings = _closings(
            own, filters, closed_from, closed_to, pipeline_opened_closings, *opened
        )
        tally.add_closings(await tx.session.execute(closings))
    overdue = await _overdue_invoices(tx, staff, scope, filters, today)
    return await _pipeline(tx, filters, tally, now, closed_from, closed_to, overdue)


async def _overdue_invoices(
    tx: Transaction, staff: StaffUser, scope: list[str], filters: PipelineFilters, today: date
) -> list[OverdueInvoices]:
    """Issued invoices due before today, per currency, on the cases the caller may see (the
    partial index of issued invoices by due date finds them)."""
    owner = sa.func.coalesce(cases.c.assignee, "")
    rows = await tx.session.execute(
        sa.select(
            invoices.c.currency,
            sa.func.count(),
            sa.func.sum(invoices.c.total - invoices.c.paid),
        )
        .join(cases, cases.c.id == invoices.c.case_id)
        .where(
            invoices.c.status == "issued",
            invoices.c.due_date < today,
            invoices.c.instance.in_(scope),
            visible_cases(staff),
            *_filtered(filters, cases.c.case_type, owner, invoices.c.currency),
        )
        .group_by(invoices.c.currency)
        .order_by(invoices.c.currency)
    )
    return [
        OverdueInvoices(currency=currency, count=n, amount_due=f"{due:.2f}")
        for currency, n, due in rows
    ]


def _filtered(filters: PipelineFilters, case_type: Any, owner: Any, currency: Any) -> list[Any]:
    where = []
    if filters.case_type is not None:
        where.append(case_type == filters.case_type)
    if filters.owner is not None:
        where.append(owner == filters.owner)
    if filters.currency is not None:
        where.append(currency == filters.currency)
    return where


def _totals(
    every: list[str], filters: PipelineFilters, t: sa.Table = pipeline_totals, *where: Any
) -> Any:
    return sa.select(
        t.c.status,
        t.c.active,
        t.c.owner,
        t.c.currency,
        t.c.close_month,
        t.c.n,
        t.c.amount,
        t.c.weighted,
    ).where(
        t.c.instance.in_(every),
        *_filtered(filters, t.c.case_type, t.c.owner, t.c.currency),
        *where,
    )


# GROUPING(status, owner, month) of each grouping set: a bit set for each column left out.
BY_STATUS, BY_OWNER, BY_MONTH = 0b011, 0b101, 0b110


def _grouped(source: Any) -> Any:
    """``source`` (rows of status, active, owner, currency, close_month, n, amount,
    weighted) summed in one pass: per status (all), per owner and per expected-close month
    (open ones only: the ``FILTER``ed sums), each per currency. A few hundred rows at most."""
    s = source.subquery()
    measures = [s.c.n, s.c.amount, s.c.weighted]
    return sa.select(
        sa.func.grouping(s.c.status, s.c.owner, s.c.close_month),
        s.c.status,
        s.c.owner,
        s.c.close_month,
        s.c.currency,
        *(sa.func.sum(m) for m in measures),
        *(sa.func.sum(m).filter(s.c.active) for m in measures),
    ).group_by(
        sa.func.grouping_sets(
            sa.tuple_(s.c.status, s.c.currency),
            sa.tuple_(s.c.owner, s.c.currency),
            sa.tuple_(s.c.close_month, s.c.currency),
        )
    )


def _zeroed(sums: list[Any]) -> list[Any]:
    """A FILTERed sum over no row is NULL."""
    return [value if value is not None else 0 for value in sums]


def _closings(
    every: list[str],
    filters: PipelineFilters,
    start: date,
    end: date,
    c: sa.Table = pipeline_closings,
    *where: Any,
) -> Any:
    return (
        sa.select(
            c.c.outcome,
            c.c.currency,
            sa.func.sum(c.c.n),
            sa.func.sum(c.c.amount),
            sa.func.sum(c.c.days_open),
        )
        .where(
            c.c.instance.in_(every),
            c.c.closed_on.between(start, end),
            *_filtered(filters, c.c.case_type, c.c.owner, c.c.currency),
            *where,
        )
        .group_by(c.c.outcome, c.c.currency)
    )


async def _pipeline(
    tx: Transaction,
    filters: PipelineFilters,
    tally: _Tally,
    now: datetime,
    closed_from: date,
    closed_to: date,
    overdue_invoices: list[OverdueInvoices],
) -> Pipeline:
    statuses = await statuses_by_name(tx)
    by_status = [
        StatusLine(
            status=status,
            status_label=statuses[status].label,
            status_class=statuses[status].grouping,
            probability=statuses[status].probability,
            **_amounts(currency, s),
        )
        for (status, currency), s in tally.statuses.items()
        if s.n
    ]
    by_status.sort(
        key=lambda line: (statuses[line.status].weight, line.status, line.currency or "")
    )
    this_month = tally.today.replace(day=1)
    months = ["past_due"] + [f"{_add_months(this_month, k):%Y-%m}" for k in range(12)]
    # Every month of every currency with open opportunities, empty ones too: a chart's axis.
    open_currencies = sorted({currency for (_, currency), s in tally.owners.items() if s.n})
    forecast = [
        MonthLine(month=month, **_amounts(currency, tally.months.get((month, currency), _Sum())))
        for currency in open_currencies
        for month in months
    ]
    by_owner = [
        OwnerLine(owner=owner or None, **_amounts(currency, s))
        for (owner, currency), s in sorted(tally.owners.items())
        if s.n
    ]
    return Pipeline(
        instance=filters.instance,
        by_status=by_status,
        forecast=forecast,
        win_rate=_win_rate(tally, closed_from, closed_to),
        by_owner=by_owner,
        overdue_invoices=overdue_invoices,
        as_of=now,
    )


def _win_rate(tally: _Tally, start: date, end: date) -> WinRate:
    closed = sorted({currency for (_, currency) in tally.closings})
    won = sum(s.n for (outcome, _), s in tally.closings.items() if outcome == "won")
    lost = sum(s.n for (outcome, _), s in tally.closings.items() if outcome == "lost")
    by_currency = []
    for currency in closed:
        w = tally.closings.get(("won", currency), _Sum())
        lo = tally.closings.get(("lost", currency), _Sum())
        by_currency.append(
            CurrencyWins(
                currency=currency or None,
                won=w.n,
                lost=lo.n,
                won_amount=_cents(w.amount),
                lost_amount=_cents(lo.amount),
                by_amount=_ratio(w.amount, w.amount + lo.amount),
            )
        )
    return WinRate(
        closed_from=start,
        closed_to=end,
        won=won,
        lost=lost,
        by_count=_ratio(won, won + lost),
        average_days_to_win=round(tally.days_to_win / won, 1) if won else None,
        by_currency=by_currency,
    )
