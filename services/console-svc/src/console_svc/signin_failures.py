"""Failed sign-ins counted per user name and per client address in the console's database,
so every replica shares one count: after too many in a quarter of an hour, sign-in is refused
(429) until the window passes, whatever the password."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from casestream.persistence.database import Database
from console_svc.config import Settings
from console_svc.tables import signin_failures

WINDOW = timedelta(minutes=15)


def _keys(user: str, address: str) -> list[str]:
    return [f"user:{user.lower()[:200]}", f"address:{address[:100]}"]


def _window(now: datetime) -> datetime:
    seconds = int(WINDOW.total_seconds())
    return datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, tz=now.tzinfo)


class SigninFailures:
    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings

    async def too_many(self, user: str, address: str, now: datetime) -> bool:
        """Whether this user or this address failed too often in this window or the last."""
        user_key, address_key = _keys(user, address)
        query = (
            sa.select(signin_failures.c.key, sa.func.sum(signin_failures.c.n))
            .where(
                signin_failures.c.key.in_([user_key, address_key]),
                signin_failures.c.window_start >= _window(now) - WINDOW,
            )
            .group_by(signin_failures.c.key)
        )
        async with self.database.session() as session:
            counts = dict((await session.execute(query)).tuples().all())
        return (
            counts.get(user_key, 0) >= self.settings.signin_failures_per_user
            or counts.get(address_key, 0) >= self.settings.signin_failures_per_address
        )

    async def count(self, user: str, address: str, now: datetime) -> None:
        window = _window(now)
        rows = [{"key": key, "window_start": window, "n": 1} for key in _keys(user, address)]
        statement = insert(signin_failures).values(rows)
        statement = statement.on_conflict_do_update(
            index_elements=["key", "window_start"], set_={"n": signin_failures.c.n + 1}
        )
        async with self.database.statements() as session:
            await session.execute(statement)
            await session.execute(
                sa.delete(signin_failures).where(signin_failures.c.window_start < window - WINDOW)
            )
