"""Per-client and per-form rate limits, counted in intake-svc's database so that every replica
shares one count: a sliding one-minute window, approximated from fixed one-minute windows.

Each (kind, key) has a counter per window (``tables.rate_counts``). A post is let through if
the posts counted in the current window, plus the previous window's share of a minute that
ends now (its count times the part of it still inside the minute, rounded up), stay under the
limit. Counters stop at the limit (a refused post is not counted), so a client that keeps
posting too fast still gets its limit's worth through each minute, as with a true sliding
window; a burst at the turn of a window cannot double the limit as fixed windows would.

One statement per post checks and counts both the client and the form (``CHECK``); the form
is counted only if the client was let through. The table is UNLOGGED: counting writes no WAL,
so its commit does not wait for a flush (the form's counter is one row every post to that form
updates), and a crash of the database only forgets the counts of the last minute or two.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from casestream.logging import get_logger
from casestream.persistence.database import Database

log = get_logger(__name__)

WINDOW_S = 60
WINDOW_MS = WINDOW_S * 1000
# Keys longer than this are cut (an address from X-Forwarded-For is whatever a client wrote
# when more hops are trusted than there are proxies).
MAX_KEY_LENGTH = 100

CLIENT = "client"
FORM = "form"

# $client, $form: the keys; $current, $previous: the two windows' starts; $left_ms: how much
# of the previous window is still inside the minute that ends now. ``seen`` reads the four
# counters there can be in one index scan (before this statement counts anything).
CHECK = sa.text(
    """
    WITH seen AS (
        SELECT kind, window_start = CAST(:current AS timestamptz) AS is_current, n
        FROM rate_counts
        WHERE window_start IN (CAST(:current AS timestamptz), CAST(:previous AS timestamptz))
          AND ((kind = 'client' AND key = CAST(:client AS text))
               OR (kind = 'form' AND key = CAST(:form AS text)))
    ),
    carried AS (
        SELECT
            coalesce(max(n) FILTER (WHERE kind = 'client' AND NOT is_current), 0)
                AS client_previous,
            coalesce(max(n) FILTER (WHERE kind = 'form' AND NOT is_current), 0)
                AS form_previous,
            coalesce(max(n) FILTER (WHERE kind = 'client' AND is_current), 0)
                AS client_current,
            coalesce(max(n) FILTER (WHERE kind = 'form' AND is_current), 0)
                AS form_current
        FROM seen
    ),
    room AS (
        SELECT
            CAST(:client_limit AS integer)
                - (client_previous * CAST(:left_ms AS bigint) + :window_ms - 1) / :window_ms
                AS client,
            CAST(:form_limit AS integer)
                - (form_previous * CAST(:left_ms AS bigint) + :window_ms - 1) / :window_ms
                AS form
        FROM carried
    ),
    client AS (
        INSERT INTO rate_counts AS r (kind, key, window_start, n)
        SELECT 'client', CAST(:client AS text), CAST(:current AS timestamptz), 1
        FROM room WHERE room.client > 0
        ON CONFLICT (kind, key, window_start) DO UPDATE SET n = r.n + 1
        WHERE r.n < (SELECT client FROM room)
        RETURNING r.n
    ),
    form AS (
        INSERT INTO rate_counts AS r (kind, key, window_start, n)
        SELECT 'form', CAST(:form AS text), CAST(:current AS timestamptz), 1
        FROM room, client WHERE room.form > 0
        ON CONFLICT (kind, key, window_start) DO UPDATE SET n = r.n + 1
        WHERE r.n < (SELECT form FROM room)
        RETURNING r.n
    )
    SELECT EXISTS (SELECT FROM client) AS client_admitted,
           EXISTS (SELECT FROM form) AS form_admitted,
           carried.*
    FROM carried
    """
).bindparams(
    sa.bindparam("current", type_=sa.DateTime(timezone=True)),
    sa.bindparam("previous", type_=sa.DateTime(timezone=True)),
    sa.bindparam("window_ms", type_=sa.BigInteger),
)

SWEEP = sa.text("DELETE FROM rate_counts WHERE window_start < CAST(:before AS timestamptz)")


@dataclass(frozen=True)
class Refusal:
    """Which limit refused a post, and in how many seconds one more would be let through."""

    kind: str
    wait_s: float


def carried(previous: int, left_ms: int, window_ms: int = WINDOW_MS) -> int:
    """The previous window's posts taken to be still inside the minute (rounded up), as the
    statement reckons them."""
    return (previous * left_ms + window_ms - 1) // window_ms


def seconds_until_room(
    limit: int, previous: int, current: int, elapsed: float, window_s: float = WINDOW_S
) -> float:
    """When ``current + carried(previous)`` falls under ``limit`` (``elapsed`` seconds into
    the current window): later in this window as the previous one's share shrinks, or else
    into the next, where this window's count is the one that shrinks."""
    if limit <= 0:
        return float(window_s)
    room = limit - 1 - current  # what the previous window may still carry
    if room >= 0 and previous > 0:
        at = window_s * (1 - room / previous)
        return max(at - elapsed, 0.0)
    if room >= 0:
        return 0.0
    next_window = window_s * (1 - (limit - 1) / current)
    return window_s - elapsed + max(next_window, 0.0)


class RateCounter:
    """The shared counters: ``check`` in one statement, old windows swept about once a
    window by each process (in the background, off the request's path)."""

    def __init__(self, database: Database, window_s: int = WINDOW_S) -> None:
        self.database = database
        self.window_s = window_s
        self._next_sweep = 0.0
        self._sweeping: set[asyncio.Task[None]] = set()

    async def check(
        self,
        client: str,
        form: str,
        client_limit: int,
        form_limit: int,
        now: float | None = None,
    ) -> Refusal | None:
        """Count a post from ``client`` to ``form``: None if both let it through, else which
        refused it (the form's is not counted when the client's refuses)."""
        now = time.time() if now is None else now
        window_ms = self.window_s * 1000
        now_ms = int(now * 1000)
        start_ms = now_ms - now_ms % window_ms
        left_ms = window_ms - (now_ms - start_ms)
        current = datetime.fromtimestamp(start_ms / 1000, UTC)
        previous = datetime.fromtimestamp((start_ms - window_ms) / 1000, UTC)
        async with self.database.statements() as conn:
            row = (
                await conn.execute(
                    CHECK,
                    {
                        "client": client[:MAX_KEY_LENGTH],
                        "form": form,
                        "current": current,
                        "previous": previous,
                        "left_ms": left_ms,
                        "window_ms": window_ms,
                        "client_limit": client_limit,
                        "form_limit": form_limit,
                    },
                )
            ).one()
        if now >= self._next_sweep:
            self._next_sweep = now + self.window_s
            self._sweep(previous)
        if row.client_admitted and row.form_admitted:
            return None
        elapsed = (now_ms - start_ms) / 1000
        if not row.client_admitted:
            kind, limit, before, counted = (
                CLIENT,
                client_limit,
                row.client_previous,
                row.client_current,
            )
        else:
            kind, limit, before, counted = FORM, form_limit, row.form_previous, row.form_current
        # The count read is the statement's snapshot; at least the room it was refused for.
        counted = max(counted, limit - carried(before, left_ms, window_ms))
        return Refusal(kind, seconds_until_room(limit, before, counted, elapsed, self.window_s))

    def _sweep(self, before: datetime) -> None:
        """Delete the windows before ``before`` (the previous one: nothing reads older)."""

        async def sweep() -> None:
            try:
                async with self.database.statements() as conn:
                    await conn.execute(SWEEP, {"before": before})
            except Exception as error:  # the next sweep tries again
                log.warning("rate counts not swept", error=repr(error))

        task = asyncio.get_running_loop().create_task(sweep())
        self._sweeping.add(task)
        task.add_done_callback(self._sweeping.discard)


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
