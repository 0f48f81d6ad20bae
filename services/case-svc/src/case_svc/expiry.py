"""The expiry worker: sent quotations whose validity date has passed become expired, on
time and once. The state is the quotation's row (a durable timer: nothing to lose on a
restart, a replica that dies mid-batch rolls back); replicas share the work (SKIP LOCKED)."""

from __future__ import annotations

import asyncio
import contextlib

from case_svc.config import Settings
from case_svc.quotations import expire_due
from casestream.clock import Clock
from casestream.persistence.database import Database


class ExpiryWorker:
    def __init__(self, database: Database, settings: Settings, clock: Clock) -> None:
        self.database = database
        self.settings = settings
        self.clock = clock
        self._wake = asyncio.Event()
        clock.on_change(self._wake.set)

    async def run(self) -> None:
        while True:
            self._wake.clear()
            if await self.expire_due():
                continue  # a full batch may have more behind it
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.expiry_poll_interval_s):
                    await self._wake.wait()

    async def expire_due(self) -> int:
        async with self.database.transaction() as tx:
            return await expire_due(tx, self.settings, self.clock.now())
