"""The case rules over plain values: which actions a case allows now (open or closed, held by
whom), which statuses a case type allows and in what order, and which status a close,
reopen, status change or transfer moves to. Pure: no database, no I/O.

``lifecycle`` reads the case and its case type's statuses, asks these functions, then
saves. A refusal is a ``Refused``: 409 with the reason when the case's state forbids the
action now, 422 naming the field when the request itself is wrong.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Literal, Protocol

from casestream.commands import conflict, invalid

OPENED, CLOSED = "opened", "closed"
STATUS_FIELD = ("body", "status")

# What a status change amounts to: crossing between the groupings closes or reopens the case.
Move = Literal["close", "reopen", "change"]


class Status(Protocol):
    """A case status as configured (a ``case_statuses`` row has these)."""

    @property
    def name(self) -> str: ...
    @property
    def grouping(self) -> str: ...
    @property
    def weight(self) -> int: ...


class CaseNow(Protocol):
    """What the rules look at on a case (its locked row has these)."""

    @property
    def case_type(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def active(self) -> bool: ...
    @property
    def assignee(self) -> str | None: ...
    @property
    def merged_into(self) -> object | None: ...


# Statuses a case type allows


def ordered_statuses(
    named: Iterable[str], every: Mapping[str, Status], grouping: str | None = None
) -> list[Status]:
    """The statuses a case type names (all of them if it names none or none that exist), by
    weight then name, optionally only those of one grouping."""
    allowed = [every[s] for s in named if s in every] or list(every.values())
    ordered = sorted(allowed, key=lambda s: (s.weight, s.name))
    return [s for s in ordered if grouping is None or s.grouping == grouping]


def allowed_status(
    case: CaseNow, wanted: str, allowed: Sequence[Status], known: Collection[str]
) -> Status:
    """``wanted`` if the case's type allows it. A name no status has is a wrong request
    (422); a real status this case type does not use is a conflict with its type (409)."""
    for status in allowed:
        if status.name == wanted:
            return status
    if wanted not in known:
        raise invalid(STATUS_FIELD, f"unknown status {wanted!r}")
    raise conflict(f"case type {case.case_type!r} does not allow the status {wanted!r}")


def target_status(
    case: CaseNow,
    wanted: str | None,
    grouping: str,
    allowed: Sequence[Status],
    known: Collection[str],
) -> str:
    """Where a close (``grouping`` closed) or reopen (opened) leaves the case: ``wanted`` if
    the case may have it and it is of that grouping, else, when none is given, the first
    status of that grouping."""
    if wanted is None:
        first = [s for s in allowed if s.grouping == grouping]
        if not first:
            raise conflict(f"the case type has no {grouping} status")
        return first[0].name
    if allowed_status(case, wanted, allowed, known).grouping != grouping:
        kind = {OPENED: "an opened", CLOSED: "a closed"}[grouping]
        raise invalid(STATUS_FIELD, f"{wanted!r} is not {kind} status")
    return wanted


def status_move(case: CaseNow, target: Status) -> Move:
    """What moving to ``target`` does, so that the event says what really happened: a closed
    status closes an open case, an opened one reopens a closed case, else only the status
    changes."""
    if target.name == case.status:
        raise conflict(f"the case is already {target.name!r}")
    if target.grouping == CLOSED and case.active:
        return "close"
    if target.grouping == OPENED and not case.active:
        check_reopen(case)  # a merged case is not reopened by a status either
        return "reopen"
    return "change"


def transfer_status(case: CaseNow, target_type: str, target_opened: Sequence[Status]) -> str:
    """The case keeps its status if the target type has it among its opened statuses, else
    it starts in the target's first opened one."""
    if case.status in {s.name for s in target_opened}:
        return case.status
    if not target_opened:
        raise conflict(f"case type {target_type!r} has no opened status")
    return target_opened[0].name


# Which actions the case allows now


def must_be_open(case: CaseNow, action: str) -> None:
    if not case.active:
        raise conflict(f"cannot {action} a closed case: reopen it first")


def check_take(case: CaseNow, actor: str) -> None:
    """Only a case in the pool can be taken."""
    must_be_open(case, "take")
    if case.assignee == actor:
        raise conflict("you already hold this case")
    if case.assignee is not None:
        raise conflict(f"the case is held by {case.assignee}: only cases in the pool can be taken")


def check_requeue(case: CaseNow, actor: str, *, admin: bool) -> None:
    """Giving a case back to the pool is for whoever holds it, or an admin."""
    must_be_open(case, "requeue")
    if case.assignee is None:
        raise conflict("the case is already in the pool")
    if case.assignee != actor and not admin:
        raise conflict(f"the case is held by {case.assignee}: only they can give it back")


def check_assign(case: CaseNow, user: str | None) -> None:
    """To ``user``, or to the pool (None)."""
    must_be_open(case, "assign")
    if case.assignee == user:
        raise conflict(f"the case is already assigned to {user}" if user else "already in the pool")


def check_close(case: CaseNow) -> None:
    if not case.active:
        raise conflict("the case is already closed")


def check_reopen(case: CaseNow) -> None:
    """A merged case stays closed: its work goes on in the case it was merged into."""
    if case.active:
        raise conflict("the case is open")
    if case.merged_into is not None:
        raise conflict(f"the case was merged into {case.merged_into}: work on that one")


def check_transfer(case: CaseNow, target_type: str) -> None:
    """Before the target type is looked up: a closed case or its own type refuse at once."""
    must_be_open(case, "transfer")
    if target_type == case.case_type:
        raise conflict(f"the case is already a {target_type!r}")


def check_transfer_target(target_type: str, *, active: bool) -> None:
    if not active:
        raise conflict(f"case type {target_type!r} is not active")
