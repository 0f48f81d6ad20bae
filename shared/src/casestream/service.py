"""What a running service holds (settings, database, broker, outbox relay), and its
command line: ``<svc> serve`` and ``<svc> migrate``."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from casestream.logging import configure_logging, get_logger
from casestream.messaging.broker import Handler, create_broker, start_broker, subscribe
from casestream.messaging.relay import OutboxRelay
from casestream.persistence.database import Database
from casestream.settings import ServiceSettings
from casestream.shutdown import finish_within

log = get_logger(__name__)


class Runtime:
    """The plumbing of one service process, built from its settings."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.database = Database(
            settings.database_url,
            pool_size=settings.database_pool_size,
            outbox_shards=settings.outbox_shards,
            outbox_notify=settings.outbox_notify,
            max_message_bytes=settings.kafka_max_message_bytes,
        )
        self.broker = create_broker(settings)
        self.relay = OutboxRelay(
            self.database,
            self.broker,
            service=settings.service_name,
            batch_size=settings.outbox_batch_size,
            poll_interval_s=settings.outbox_poll_interval_s,
            max_attempts=settings.outbox_max_attempts,
            publish_timeout_s=settings.kafka_request_timeout_s,
            outbox_retention=timedelta(hours=settings.outbox_retention_hours),
            inbox_retention=timedelta(hours=settings.inbox_retention_hours),
        )

    def subscribe(self, topic: str, contract: type, handler: Handler, *, group: str) -> None:
        """Run ``handler(envelope, tx)`` for each message on ``topic`` (a name from
        ``casestream.topics``), as this service's consumer group ``group``."""
        subscribe(
            self.broker,
            self.database,
            self.settings.topic(topic),
            contract,
            handler,
            group_id=self.settings.group(group),
            auto_offset_reset=self.settings.kafka_auto_offset_reset,
            workers=self.settings.consume_workers,
        )

    async def start(self) -> None:
        async with asyncio.timeout(self.settings.kafka_request_timeout_s * 3):
            await start_broker(self.broker)
        await self.relay.start()
        log.info("service started", service=self.settings.service_name)

    async def stop(self) -> None:
        await self.relay.stop()
        await finish_within(self.broker.stop(), 20, "broker")
        await finish_within(self.database.dispose(), 10, "database pool")

    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            async with asyncio.timeout(2):
                await self.database.ping()
            checks["database"] = "ok"
        except Exception as error:
            checks["database"] = f"unreachable: {error!r}"
        try:
            async with asyncio.timeout(3):
                ok = await self.broker.ping(timeout=2)
            checks["broker"] = "ok" if ok else "unreachable"
        except Exception as error:
            checks["broker"] = f"unreachable: {error!r}"
        return checks


def run_cli(
    *,
    settings_factory: Callable[[], ServiceSettings],
    app_factory: Callable[[ServiceSettings], Any],
    migrations: Path,
    argv: list[str] | None = None,
) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["serve", "migrate"])
    args = parser.parse_args(argv)
    settings = settings_factory()
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    if args.command == "migrate":
        from casestream.persistence.migrations import upgrade

        upgrade(migrations, settings.database_url)
        return
    import uvicorn

    uvicorn.run(
        app_factory(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # our structlog handler already formats everything
        access_log=False,
    )
