"""Staff authentication: ``Authorization: Bearer <token>``, either a signed JWT access token
(people signed in through the console: casestream.http.access_tokens) or a static token from
settings (scripts and internal apps)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from casestream.http.access_tokens import AccessTokenVerifier, InvalidAccessToken, looks_like_jwt


@dataclass(frozen=True)
class StaffUser:
    user: str
    rights: frozenset[str] = field(default_factory=frozenset)
    email: str | None = None
    name: str | None = None

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


# Declares the scheme in each service's OpenAPI document (its /docs gets an Authorize
# button); the checking is ours, below, so a missing header is our 401, not FastAPI's 403.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="staff",
    description="A static staff token from the service's settings, or a signed JWT access "
    "token (the console's, or an OpenID Connect provider's).",
)


def staff_user(
    request: Request,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)] = None,
) -> StaffUser:
    """A sync dependency, so FastAPI runs it in a worker thread: fetching a provider's keys
    (once an hour) blocks no request."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    settings = request.app.state.settings
    known = settings.staff_tokens.get(token)
    if known is not None:
        return StaffUser(known.user, frozenset(known.rights), known.email, known.name)
    verifier = _verifier(request)
    if verifier.enabled and looks_like_jwt(token):
        try:
            claims = verifier.verify(token)
        except InvalidAccessToken as error:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                f"invalid access token: {error}",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            ) from error
        return StaffUser(claims.user, claims.rights, claims.email, claims.name)
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED, "unknown token", headers={"WWW-Authenticate": "Bearer"}
    )


def _verifier(request: Request) -> AccessTokenVerifier:
    """One per app, built on first use from its settings, again if they changed (tests)."""
    state = request.app.state
    verifier: AccessTokenVerifier | None = getattr(state, "access_tokens", None)
    if verifier is None or verifier.config != AccessTokenVerifier.config_of(state.settings):
        verifier = state.access_tokens = AccessTokenVerifier(state.settings)
    return verifier


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
