"""Owners re-drive unfinished hand-overs: what a service handed to another and heard no outcome
of in time (the message or its answer was lost on the way) it sends again, until the outcome
comes. What is overdue and how it is sent again is the owner's (a submission, a command);
this is the worker around it, the same in every service."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def redrive_forever(send_overdue: Callable[[], Awaitable[int]], interval_s: float) -> None:
    """The worker: ``send_overdue`` sends one batch again (a transaction of its own) and says
    how many it claimed; batches follow each other while it finds some, then it looks again
    every ``interval_s``."""
    while True:
        while await send_overdue() > 0:
            pass
        await asyncio.sleep(interval_s)
