"""Staff authentication: ``Authorization: Bearer <token>``, tokens from settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status


@dataclass(frozen=True)
class StaffUser:
    user: str
    rights: frozenset[str] = field(default_factory=frozenset)

    def may(self, right: str) -> bool:
        return "admin" in self.rights or right in self.rights


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
