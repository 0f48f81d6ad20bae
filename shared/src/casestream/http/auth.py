"""Staff authentication: ``Authorization: Bearer <token>``, tokens from settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status


@dataclass(frozen=True)
class StaffUser:
    user: str
    rights: frozenset[str] = field(default_factory=frozenset)

    def may(self, right: str) -> bool:
        return "admin" in self.rights or right in self.rights

    def access_to(self, instance: str) -> str | None:
        """Access to an instance's cases: "all", "own" (assigned to the user or opened by
        them) or None, from the rights ``cases:<instance>:all|own`` (``*`` = every
        instance). Every service applies the same rule to what hangs off cases."""
        if "admin" in self.rights:
            return "all"
        found = None
        for right in self.rights:
            parts = right.split(":")
            if len(parts) == 3 and parts[0] == "cases" and parts[1] in (instance, "*"):
                if parts[2] == "all":
                    return "all"
                if parts[2] == "own":
                    found = "own"
        return found

    def granted_instances(self) -> list[tuple[str, str]]:
        """(instance or "*", "all" | "own") for each case right the token holds."""
        return [
            (parts[1], parts[2])
            for parts in (r.split(":") for r in self.rights)
            if len(parts) == 3 and parts[0] == "cases" and parts[2] in ("all", "own")
        ]


def staff_user(request: Request) -> StaffUser:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    known = request.app.state.settings.staff_tokens.get(token.strip())
    if known is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "unknown token", headers={"WWW-Authenticate": "Bearer"}
        )
    return StaffUser(known.user, frozenset(known.rights))


Staff = Annotated[StaffUser, Depends(staff_user)]


def requires(right: str) -> Callable[[StaffUser], StaffUser]:
    """A dependency: the staff user, if their token holds ``right`` (or ``admin``); else 403.
    It runs with the route's dependencies, before its query and body are validated, so a
    token without the right gets 403 (a missing or unknown token 401) whatever it sent."""

    def holding(staff: Staff) -> StaffUser:
        if not staff.may(right):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"this token lacks the {right!r} right (or admin)"
            )
        return staff

    holding.__name__ = f"requires_{right}"
    return holding


Configurer = Annotated[StaffUser, Depends(requires("configure"))]
"""Staff who may create, change and delete configuration: instances, case statuses, case
types, activity types, rules, templates, forms. Reading it needs only a known token."""
