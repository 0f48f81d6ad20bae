"""The Kafka broker of a service, and how its handlers subscribe.

Handlers are plain functions ``handler(envelope, tx)``: ``subscribe`` validates the message
into its contract, skips it if the inbox has seen it, and runs the handler inside one
database transaction with the inbox row and any outbox rows. The offset is committed only
after that transaction (see ``consumption``).
"""

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker

from casestream import metrics
from casestream.logging import get_logger
from casestream.messaging.consumption import ConsumptionPolicy
from casestream.persistence.database import Database, Transaction
from casestream.settings import ServiceSettings

Handler = Callable[[Any, Transaction], Awaitable[None]]


def create_broker(settings: ServiceSettings) -> KafkaBroker:
    policy = ConsumptionPolicy(
        service=settings.service_name,
        max_attempts=settings.consume_max_attempts,
        backoff_initial_s=settings.consume_backoff_initial_s,
        backoff_max_s=settings.consume_backoff_max_s,
        publish_timeout_s=settings.kafka_request_timeout_s,
    )
    broker = KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=settings.service_name,
        acks=settings.kafka_acks,
        enable_idempotence=settings.kafka_enable_idempotence,
        linger_ms=settings.kafka_linger_ms,
        request_timeout_ms=int(settings.kafka_request_timeout_s * 1000),
        max_request_size=settings.kafka_max_message_bytes + 64_000,
        # Acknowledgement is ours (ReliableConsumption commits each record explicitly).
        ack_policy=AckPolicy.MANUAL,
        middlewares=(policy,),
        graceful_timeout=15.0,
        # FastStream's own "Received"/"Processed" lines go through our structlog set-up, at
        # DEBUG: at INFO they would double the log volume of a busy service.
        logger=get_logger("faststream"),
        log_level=logging.DEBUG,
        description=f"{settings.service_name}: messages it hears and says",
    )
    policy.broker = broker
    return broker


async def start_broker(broker: KafkaBroker) -> None:
    """``broker.start()``, but the subscribers join their groups at the same time: each
    consumer's start waits for its group join (seconds on Tansu), and FastStream starts them
    one after another."""
    await broker.connect()
    await asyncio.gather(*(subscriber.start() for subscriber in broker.subscribers))
    for publisher in broker.publishers:
        await publisher.start()
    broker.running = True


def subscribe(
    broker: Any,
    database: Database,
    topic: str,
    contract: type,
    handler: Handler,
    *,
    group_id: str,
    auto_offset_reset: str = "earliest",
    description: str | None = None,
    workers: int = 1,
) -> None:
    """Subscribe ``handler`` to ``topic`` as consumer group ``group_id`` (also the inbox's
    consumer name, so each group handles a message once)."""

    service = group_id.rsplit(".", 1)[0]  # groups are <prefix><service>.<handler>

    async def consume(envelope: Any) -> None:
        async with database.transaction() as tx:
            if not await tx.claim_message(group_id, envelope.id):
                metrics.messages_consumed.labels(service, topic, "duplicate").inc()
                return
            await handler(envelope, tx)

    # FastStream validates the body against the signature's annotation and documents it in
    # AsyncAPI: give the closure the contract's type.
    consume.__signature__ = inspect.Signature(
        [
            inspect.Parameter(
                "envelope", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=contract
            )
        ],
        return_annotation=None,
    )
    consume.__annotations__ = {"envelope": contract, "return": None}
    consume.__name__ = handler.__name__
    consume.__doc__ = handler.__doc__
    broker.subscriber(
        topic,
        group_id=group_id,
        auto_offset_reset=auto_offset_reset,
        description=description or (handler.__doc__ or "").strip() or None,
        max_workers=workers,
    )(consume)


def declare_publisher(broker: Any, topic: str, contract: type, description: str) -> None:
    """Document in AsyncAPI what this service says on ``topic`` (the outbox relay sends it)."""
    broker.publisher(topic, schema=contract, description=description)
