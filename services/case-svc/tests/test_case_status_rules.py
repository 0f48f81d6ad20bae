"""The case rules on plain values: no database, no broker (no fixtures at all)."""

from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest

from case_svc import status_rules as rules
from casestream.commands import Refused


@dataclass(frozen=True)
class Status:
    name: str
    grouping: str
    weight: int = 0


@dataclass(frozen=True)
class Case:
    case_type: str = "general_enquiry"
    status: str = "open"
    active: bool = True
    assignee: str | None = None
    merged_into: object | None = None


EVERY = {
    s.name: s
    for s in (
        Status("resolved", "closed", 3),
        Status("open", "opened", 1),
        Status("withdrawn", "closed", 3),
        Status("pending", "opened", 2),
        Status("archived", "closed", 9),
    )
}
# What general_enquiry allows, in the order the rules put them in.
ALLOWED = rules.ordered_statuses(["resolved", "pending", "open", "withdrawn"], EVERY)
OPEN = Case()
CLOSED = Case(status="resolved", active=False)


def assert_refused(
    check: Callable[[], object], status: int, message: str, field: tuple | None = None
) -> None:
    """``check`` refuses with exactly this HTTP status, message and (for a 422) field."""
    with pytest.raises(Refused) as refusal:
        check()
    assert (refusal.value.status_code, refusal.value.message) == (status, message)
    assert refusal.value.field == field


def names(statuses: list) -> list[str]:
    return [s.name for s in statuses]


# Which statuses a case type allows


def test_allowed_statuses_are_ordered_by_weight_then_name():
    assert names(ALLOWED) == ["open", "pending", "resolved", "withdrawn"]


def test_allowed_statuses_of_one_grouping():
    assert names(rules.ordered_statuses(["resolved", "open", "withdrawn"], EVERY, "closed")) == [
        "resolved",
        "withdrawn",
    ]
    assert names(rules.ordered_statuses(["resolved"], EVERY, "opened")) == []


def test_a_case_type_naming_no_statuses_allows_all_of_them():
    assert names(rules.ordered_statuses([], EVERY)) == [
        "open",
        "pending",
        "resolved",
        "withdrawn",
        "archived",
    ]


def test_names_that_are_no_status_are_left_out():
    assert names(rules.ordered_statuses(["open", "gone"], EVERY)) == ["open"]


def test_an_allowed_status_is_returned_with_its_grouping():
    assert rules.allowed_status(OPEN, "withdrawn", ALLOWED, EVERY) == EVERY["withdrawn"]


def test_an_unknown_status_is_a_wrong_request():
    assert_refused(
        lambda: rules.allowed_status(OPEN, "nonsense", ALLOWED, EVERY),
        422,
        "unknown status 'nonsense'",
        ("body", "status"),
    )


def test_a_status_the_case_type_does_not_use_is_a_conflict():
    assert_refused(
        lambda: rules.allowed_status(OPEN, "archived", ALLOWED, EVERY),
        409,
        "case type 'general_enquiry' does not allow the status 'archived'",
    )


# Where closing and reopening lead


def test_closing_without_a_status_takes_the_first_closed_one():
    assert rules.target_status(OPEN, None, "closed", ALLOWED, EVERY) == "resolved"


def test_reopening_without_a_status_takes_the_first_opened_one():
    assert rules.target_status(CLOSED, None, "opened", ALLOWED, EVERY) == "open"


def test_a_case_type_without_closed_statuses_cannot_close_by_default():
    only_opened = rules.ordered_statuses(["open", "pending"], EVERY)
    assert_refused(
        lambda: rules.target_status(OPEN, None, "closed", only_opened, EVERY),
        409,
        "the case type has no closed status",
    )


def test_closing_to_a_chosen_closed_status():
    assert rules.target_status(OPEN, "withdrawn", "closed", ALLOWED, EVERY) == "withdrawn"


def test_closing_to_an_opened_status_is_a_wrong_request():
    assert_refused(
        lambda: rules.target_status(OPEN, "pending", "closed", ALLOWED, EVERY),
        422,
        "'pending' is not a closed status",
        ("body", "status"),
    )


def test_reopening_to_a_closed_status_is_a_wrong_request():
    assert_refused(
        lambda: rules.target_status(CLOSED, "withdrawn", "opened", ALLOWED, EVERY),
        422,
        "'withdrawn' is not an opened status",
        ("body", "status"),
    )


def test_closing_to_a_status_the_type_does_not_use_is_a_conflict():
    assert_refused(
        lambda: rules.target_status(OPEN, "archived", "closed", ALLOWED, EVERY),
        409,
        "case type 'general_enquiry' does not allow the status 'archived'",
    )


# What a status change amounts to


@pytest.mark.parametrize(
    ("case", "target", "move"),
    [
        (OPEN, "resolved", "close"),
        (OPEN, "pending", "change"),
        (CLOSED, "pending", "reopen"),
        (CLOSED, "withdrawn", "change"),
    ],
)
def test_a_status_change_closes_or_reopens_when_it_crosses_groupings(case, target, move):
    assert rules.status_move(case, EVERY[target]) == move


def test_changing_to_the_current_status_is_refused():
    assert_refused(
        lambda: rules.status_move(CLOSED, EVERY["resolved"]),
        409,
        "the case is already 'resolved'",
    )


# Who may take, give back or assign a case


def test_a_case_in_the_pool_can_be_taken():
    rules.check_take(OPEN, "clerk")


def test_taking_a_case_you_hold():
    assert_refused(
        lambda: rules.check_take(replace(OPEN, assignee="clerk"), "clerk"),
        409,
        "you already hold this case",
    )


def test_taking_a_case_someone_else_holds():
    assert_refused(
        lambda: rules.check_take(replace(OPEN, assignee="colleague"), "clerk"),
        409,
        "the case is held by colleague: only cases in the pool can be taken",
    )


@pytest.mark.parametrize(
    ("action", "check"),
    [
        ("take", lambda case: rules.check_take(case, "clerk")),
        ("requeue", lambda case: rules.check_requeue(case, "clerk", admin=True)),
        ("assign", lambda case: rules.check_assign(case, "colleague")),
        ("transfer", lambda case: rules.check_transfer(case, "complaint")),
    ],
)
def test_a_closed_case_must_be_reopened_first(action, check):
    # Held by the caller: being closed is the reason given, not who holds it.
    closed = replace(CLOSED, assignee="clerk")
    assert_refused(lambda: check(closed), 409, f"cannot {action} a closed case: reopen it first")


def test_the_holder_gives_a_case_back():
    rules.check_requeue(replace(OPEN, assignee="clerk"), "clerk", admin=False)


def test_only_the_holder_or_an_admin_gives_a_case_back():
    held = replace(OPEN, assignee="colleague")
    assert_refused(
        lambda: rules.check_requeue(held, "clerk", admin=False),
        409,
        "the case is held by colleague: only they can give it back",
    )
    rules.check_requeue(held, "manager", admin=True)


def test_a_case_in_the_pool_cannot_be_given_back():
    assert_refused(
        lambda: rules.check_requeue(OPEN, "clerk", admin=True),
        409,
        "the case is already in the pool",
    )


def test_assigning_to_someone_else_or_to_the_pool():
    rules.check_assign(replace(OPEN, assignee="clerk"), "colleague")
    rules.check_assign(replace(OPEN, assignee="clerk"), None)


def test_assigning_to_whoever_already_has_it():
    assert_refused(
        lambda: rules.check_assign(replace(OPEN, assignee="clerk"), "clerk"),
        409,
        "the case is already assigned to clerk",
    )
    assert_refused(lambda: rules.check_assign(OPEN, None), 409, "already in the pool")


# Closing and reopening


def test_an_open_case_can_be_closed_once():
    rules.check_close(OPEN)
    assert_refused(lambda: rules.check_close(CLOSED), 409, "the case is already closed")


def test_only_a_closed_case_can_be_reopened():
    rules.check_reopen(CLOSED)
    assert_refused(lambda: rules.check_reopen(OPEN), 409, "the case is open")


def test_a_merged_case_stays_closed():
    merged = replace(CLOSED, merged_into="c0ffee")
    assert_refused(
        lambda: rules.check_reopen(merged),
        409,
        "the case was merged into c0ffee: work on that one",
    )
    # Nor does an opened status reopen it (it once did, past reopen's check).
    assert_refused(
        lambda: rules.status_move(merged, EVERY["pending"]),
        409,
        "the case was merged into c0ffee: work on that one",
    )
    assert rules.status_move(merged, EVERY["withdrawn"]) == "change"  # closed to closed


# Transfer to another case type


def test_transfer_to_the_same_type_is_refused():
    assert_refused(
        lambda: rules.check_transfer(OPEN, "general_enquiry"),
        409,
        "the case is already a 'general_enquiry'",
    )
    rules.check_transfer(OPEN, "complaint")


def test_transfer_to_an_inactive_type_is_refused():
    assert_refused(
        lambda: rules.check_transfer_target("complaint", active=False),
        409,
        "case type 'complaint' is not active",
    )
    rules.check_transfer_target("complaint", active=True)


def test_a_transferred_case_keeps_a_status_the_target_has():
    target_opened = rules.ordered_statuses(["open", "pending"], EVERY, "opened")
    assert rules.transfer_status(replace(OPEN, status="pending"), "complaint", target_opened) == (
        "pending"
    )


def test_a_transferred_case_otherwise_starts_in_the_targets_first_opened_status():
    target_opened = rules.ordered_statuses(["pending", "resolved"], EVERY, "opened")
    assert rules.transfer_status(OPEN, "complaint", target_opened) == "pending"


def test_transfer_to_a_type_without_opened_statuses_is_refused():
    assert_refused(
        lambda: rules.transfer_status(OPEN, "complaint", []),
        409,
        "case type 'complaint' has no opened status",
    )
