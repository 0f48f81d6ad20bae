"""What a service says when it cannot start: one line naming what is wrong (a setting and
why, or the database it cannot reach), not a traceback, and exit status 2. Operators read it
in a crash-looping pod's log."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar

import pydantic_settings
import sqlalchemy as sa
from pydantic import ValidationError

from casestream.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)
# A setting whose name holds one of these is not echoed back when it is wrong.
SECRET_WORDS = ("PASSWORD", "SECRET", "KEY", "TOKEN", "USERS")


class SettingsError(Exception):
    """A setting the service cannot run with (raised by a service's own checks)."""


def refuse(service: str, problem: str) -> NoReturn:
    print(f"{service}: cannot start: {problem}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def read_settings(factory: Callable[[], S]) -> S:
    """The settings, or one line per wrong one: its variable, why, and what was given."""
    is_class = isinstance(factory, type) and issubclass(factory, ServiceSettings)
    cls: type[ServiceSettings] = factory if is_class else ServiceSettings  # type: ignore[assignment]
    prefix = str(cls.model_config.get("env_prefix", "")).upper()
    service = prefix.removesuffix("_").lower().replace("_", "-") or "casestream"
    try:
        return factory()
    except pydantic_settings.SettingsError as error:
        # A map or list setting that is not JSON: pydantic-settings names the field only.
        field = re.search(r'field "(\w+)"', str(error))
        name = prefix + (field.group(1).upper() if field else "?")
        refuse(service, f"{name}: not valid JSON ({error.__cause__ or error})")
    except ValidationError as error:
        problems = []
        for found in error.errors():
            name = prefix + "_".join(str(part) for part in found["loc"][:1]).upper()
            given = found.get("input")
            secret = any(word in name for word in SECRET_WORDS)
            shown = "" if secret or isinstance(given, dict) else f" (given: {str(given)[:60]!r})"
            problems.append(f"{name}: {found['msg']}{shown}")
        refuse(service, "; ".join(problems))


def where(url: str) -> str:
    """A database URL to show: no password."""
    return sa.make_url(url).render_as_string(hide_password=True)


def ensure_database_reachable(settings: ServiceSettings, timeout_s: float = 10.0) -> None:
    """One connection to the service's database, or a line saying it is not there."""
    _connect(settings, sa.make_url(settings.database_url), timeout_s)


def ensure_server_reachable(settings: ServiceSettings, timeout_s: float = 10.0) -> None:
    """One connection to the server's ``postgres`` database (``migrate`` makes the service's)."""
    _connect(settings, sa.make_url(settings.database_url).set(database="postgres"), timeout_s)


def _connect(settings: ServiceSettings, target: sa.URL, timeout_s: float) -> None:
    import asyncpg

    url = target.set(drivername="postgresql")

    async def connect() -> None:
        connection = await asyncpg.connect(
            url.render_as_string(hide_password=False), timeout=timeout_s
        )
        await connection.close()

    try:
        asyncio.run(connect())
    except (TimeoutError, OSError, asyncpg.PostgresError) as error:
        reason = str(error) or type(error).__name__
        refuse(settings.service_name, f"no database at {where(str(target))}: {reason}")
