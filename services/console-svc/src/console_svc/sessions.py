"""Who is signed in: a random secret in an HttpOnly cookie, the session in the console's
database under the secret's SHA-256 (with the access token the console calls the services
with, and the form token every post must carry). Signing out deletes the row: the cookie is
then worth nothing, on every replica."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from casestream.http.auth import StaffUser
from casestream.persistence.database import Database
from console_svc.config import Settings
from console_svc.tables import sessions

COOKIE = "console_session"


@dataclass(frozen=True)
class SignedIn:
    """Who the user is, and how the console speaks for them."""

    user: str
    name: str | None
    email: str | None
    rights: frozenset[str]
    access_token: str
    access_expires_at: datetime
    refresh_token: str | None
    csrf: str
    expires_at: datetime
    key: str  # the row's id

    @property
    def staff(self) -> StaffUser:
        """What the services will make of the token (for menus only: they decide)."""
        return StaffUser(self.user, self.rights, self.email, self.name)

    @property
    def display_name(self) -> str:
        return self.name or self.user


def _key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class SessionStore:
    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings

    async def open(
        self,
        *,
        user: str,
        name: str | None,
        email: str | None,
        rights: list[str],
        access_token: str,
        access_expires_at: datetime,
        refresh_token: str | None,
        now: datetime,
    ) -> str:
        """A new session; returns the cookie's value."""
        secret = secrets.token_urlsafe(32)
        values = {
            "id": _key(secret),
            "user": user,
            "name": name,
            "email": email,
            "rights": rights,
            "access_token": access_token,
            "access_expires_at": access_expires_at,
            "refresh_token": refresh_token,
            "csrf": secrets.token_urlsafe(32),
            "created_at": now,
            "expires_at": now + timedelta(seconds=self.settings.session_ttl_s),
        }
        async with self.database.statements() as connection:
            await connection.execute(sa.insert(sessions).values(values))
            # Now and then, the sessions that ran out go.
            if secrets.randbelow(20) == 0:
                await connection.execute(sa.delete(sessions).where(sessions.c.expires_at < now))
        return secret

    async def find(self, secret: str | None, now: datetime) -> SignedIn | None:
        if not secret:
            return None
        query = sa.select(sessions).where(
            sessions.c.id == _key(secret), sessions.c.expires_at > now
        )
        async with self.database.session() as connection:
            row = (await connection.execute(query)).mappings().first()
        return None if row is None else _signed_in(row)

    async def renew_access(
        self, session: SignedIn, token: str, expires_at: datetime, refresh_token: str | None
    ) -> SignedIn:
        values: dict[str, Any] = {"access_token": token, "access_expires_at": expires_at}
        if refresh_token:
            values["refresh_token"] = refresh_token
        async with self.database.statements() as connection:
            await connection.execute(
                sa.update(sessions).where(sessions.c.id == session.key).values(values)
            )
        return SignedIn(
            **{
                **session.__dict__,
                "access_token": token,
                "access_expires_at": expires_at,
                "refresh_token": refresh_token or session.refresh_token,
            }
        )

    async def close(self, secret: str | None) -> None:
        if secret:
            async with self.database.statements() as connection:
                await connection.execute(sa.delete(sessions).where(sessions.c.id == _key(secret)))


def _signed_in(row: Any) -> SignedIn:
    return SignedIn(
        user=row["user"],
        name=row["name"],
        email=row["email"],
        rights=frozenset(row["rights"]),
        access_token=row["access_token"],
        access_expires_at=row["access_expires_at"],
        refresh_token=row["refresh_token"],
        csrf=row["csrf"],
        expires_at=row["expires_at"],
        key=row["id"],
    )
