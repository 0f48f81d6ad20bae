"""The one case visibility rule, over a case in hand."""

from __future__ import annotations

from types import SimpleNamespace

from casestream.http.auth import StaffUser
from casestream.visibility import may_see_case

CASE = SimpleNamespace(instance="support", assignee="ann", created_by="bob")


def staff(user: str, *rights: str) -> StaffUser:
    return StaffUser(user, frozenset(rights))


def test_all_of_an_instance_or_every_instance_sees_the_case():
    assert may_see_case(staff("zed", "cases:support:all"), CASE)
    assert may_see_case(staff("zed", "cases:*:all"), CASE)
    assert may_see_case(staff("zed", "admin"), CASE)


def test_own_sees_only_what_the_user_holds_or_opened():
    assert may_see_case(staff("ann", "cases:support:own"), CASE)
    assert may_see_case(staff("bob", "cases:*:own"), CASE)
    assert not may_see_case(staff("zed", "cases:support:own"), CASE)


def test_rights_in_another_instance_see_nothing_here():
    assert not may_see_case(staff("ann", "cases:sales:all"), CASE)
    assert not may_see_case(staff("ann"), CASE)
