"""Stopping background work without hanging.

``task.cancel(); await task`` waits for ever if the task swallows its cancellation (Python
3.11's ``asyncio.wait_for`` can, when its timeout and the cancellation coincide, and some
client libraries retry through it). Shutdown must not depend on that: these helpers wait a
bounded time, then leave the task behind and say so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from casestream.logging import get_logger

log = get_logger(__name__)


async def cancel_and_wait(task: asyncio.Task[Any] | None, seconds: float, what: str) -> None:
    if task is None or task.done():
        return
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        log.warning("did not stop in time; left behind", what=what, seconds=seconds)


async def finish_within(awaitable: Awaitable[Any], seconds: float, what: str) -> bool:
    """Run ``awaitable`` for at most ``seconds``; False (logged) if it failed or overran."""
    task = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        log.warning("did not finish in time; left behind", what=what, seconds=seconds)
        return False
    if task.exception() is not None:
        log.warning("failed while stopping", what=what, error=repr(task.exception()))
        return False
    return True
