"""What a running service holds (settings, database, broker, outbox relay), and its
command line: ``<svc> serve``, ``<svc> migrate`` and ``<svc> republish`` (send again what the
outbox published, after a broker lost its data)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from casestream.clock import Clock, SystemClock
from casestream.logging import configure_logging, get_logger
from casestream.messaging.broker import (
    create_broker,
    create_consumer,
    document_subscription,
    start_broker,
)
from casestream.messaging.consumption import (
    BatchConsumer,
    BatchHandler,
    ConsumptionPolicy,
    Handler,
    Subscription,
)
from casestream.messaging.holding import HeldMessages
from casestream.messaging.relay import OutboxRelay
from casestream.persistence.database import Database
from casestream.settings import ServiceSettings
from casestream.shutdown import finish_within
from casestream.startup import (
    SettingsError,
    ensure_database_reachable,
    ensure_server_reachable,
    read_settings,
    refuse,
)

log = get_logger(__name__)


class Runtime:
    """The plumbing of one service process, built from its settings."""

    def __init__(self, settings: ServiceSettings, clock: Clock | None = None) -> None:
        self.settings = settings
        # What "now" is for timers and dates (a manual one in tests).
        self.clock: Clock = clock or SystemClock()
        self.database = Database(
            settings.database_url,
            pool_size=settings.database_pool_size,
            outbox_shards=settings.outbox_shards,
            outbox_notify=settings.outbox_notify,
            max_message_bytes=settings.kafka_max_message_bytes,
        )
        self.broker = create_broker(settings)
        self.policy = ConsumptionPolicy(
            service=settings.service_name,
            batch_size=settings.consume_batch_size,
            max_attempts=settings.consume_max_attempts,
            backoff_initial_s=settings.consume_backoff_initial_s,
            backoff_max_s=settings.consume_backoff_max_s,
            publish_timeout_s=settings.kafka_request_timeout_s,
        )
        self.consumers: list[BatchConsumer] = []
        self.held: HeldMessages | None = None
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
            linger_s=settings.outbox_linger_ms / 1000,
        )

    def subscribe(
        self,
        topic: str,
        contract: type,
        handler: Handler | BatchHandler,
        *,
        group: str,
        workers: int | None = None,
        batched: bool = False,
        holds: bool = False,
        gave_up: Handler | None = None,
    ) -> None:
        """Run ``handler(envelope, tx)`` for each message on ``topic`` (a name from
        ``casestream.topics``), as this service's consumer group ``group``; with ``batched``,
        ``handler(envelopes, tx)`` once per batch; with ``holds``, messages that came too
        early wait (see ``Subscription``)."""
        self.subscribe_as(
            Subscription(
                self.settings.topic(topic),
                self.settings.group(group),
                contract,
                handler,
                batched=batched,
                holds=holds,
                gave_up=gave_up,
            ),
            workers=workers,
        )

    def subscribe_as(self, subscription: Subscription, *, workers: int | None = None) -> None:
        """``subscribe`` with the topic and group named in full."""
        document_subscription(
            self.broker, subscription, (subscription.handler.__doc__ or "").strip()
        )
        for _ in range(workers or self.settings.consume_workers):
            self.consumers.append(
                BatchConsumer(
                    subscription,
                    self.database,
                    consumer=lambda: create_consumer(self.settings, subscription.group_id),
                    dead_letters=self.broker.publish,
                    policy=self.policy,
                )
            )

    async def start(self) -> None:
        join_within_s = self.settings.kafka_request_timeout_s * 3
        async with asyncio.timeout(join_within_s):
            await start_broker(self.broker)
        # Together: each start waits for its group join (seconds on Tansu), and goes on
        # joining in the background past ``join_within_s``.
        await asyncio.gather(*(c.start(join_within_s) for c in self.consumers))
        await self.relay.start()
        if holding := [c for c in self.consumers if c.subscription.holds]:
            self.held = HeldMessages(
                self.database,
                holding,
                self.policy,
                poll_interval_s=self.settings.held_poll_interval_s,
                give_up_s=self.settings.held_give_up_s,
            )
            await self.held.start()
        log.info("service started", service=self.settings.service_name)

    async def stop(self) -> None:
        await asyncio.gather(*(consumer.stop() for consumer in self.consumers))
        if self.held is not None:
            await self.held.stop()
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


def command_line(package: str) -> Callable[[], None]:
    """The ``main`` of the service in ``package`` (``"case_svc"``): ``serve`` and ``migrate``,
    from the layout every service keeps: ``config.Settings``, ``main.create_app`` and the
    ``migrations/`` folder beside them."""

    def main() -> None:
        root = importlib.import_module(package)
        run_cli(
            settings_factory=importlib.import_module(f"{package}.config").Settings,
            app_factory=importlib.import_module(f"{package}.main").create_app,
            migrations=Path(str(root.__file__)).parent / "migrations",
        )

    return main


def run_cli(
    *,
    settings_factory: Callable[[], ServiceSettings],
    app_factory: Callable[[ServiceSettings], Any],
    migrations: Path,
    argv: list[str] | None = None,
) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["serve", "migrate", "republish"])
    parser.add_argument(
        "--since",
        help="republish: what was published from this time on (ISO 8601; default: as far "
        "back as the outbox keeps published rows)",
    )
    args = parser.parse_args(argv)
    settings = read_settings(settings_factory)
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    if args.command == "migrate":
        from casestream.persistence.migrations import upgrade

        # A database that does not exist yet is made by upgrade: the server must answer.
        ensure_server_reachable(settings)
        upgrade(migrations, settings.database_url)
        return
    if args.command == "republish":
        asyncio.run(_republish(settings, args.since))
        return
    import uvicorn

    ensure_database_reachable(settings)
    try:
        app = app_factory(settings)
    except SettingsError as error:
        refuse(settings.service_name, str(error))
    _tune_garbage_collector()
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # our structlog handler already formats everything
        access_log=False,
    )


async def _republish(settings: ServiceSettings, since: str | None) -> None:
    """After the broker lost what it held: send again what this service published."""
    from casestream.messaging.relay import republish

    start = (
        datetime.fromisoformat(since)
        if since
        else datetime.now(UTC) - timedelta(hours=settings.outbox_retention_hours)
    )
    database = Database(settings.database_url, pool_size=1)
    try:
        count = await republish(database, start)
    finally:
        await database.dispose()
    log.info("outbox rows to send again", count=count, since=start.isoformat())


def _tune_garbage_collector() -> None:
    """Modules, classes and the app live as long as the process: frozen, no collection walks
    them again. A larger youngest generation lets a batch's short-lived objects die by reference
    count before any collection looks at them (fewer collections, fewer survivors promoted)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
