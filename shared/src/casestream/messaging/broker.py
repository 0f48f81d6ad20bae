"""The Kafka side of a service: the broker that publishes (outbox relay, dead letters), the
consumers its subscriptions poll with, and what AsyncAPI documents of both.

Handlers are plain functions ``handler(envelope, tx)``; ``consumption.BatchConsumer`` runs
them in batches (see there). FastStream publishes and documents; it does not consume: its
batch subscriber sleeps after an empty poll, which would add latency to every hop.
"""

import inspect
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer
from faststream import AckPolicy
from faststream.kafka import KafkaBroker

from casestream.logging import get_logger
from casestream.messaging.consumption import Subscription
from casestream.messaging.kafka_security import broker_options, client_options
from casestream.settings import ServiceSettings


def create_broker(settings: ServiceSettings) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=settings.service_name,
        acks=settings.kafka_acks,
        enable_idempotence=settings.kafka_enable_idempotence,
        linger_ms=settings.kafka_linger_ms,
        request_timeout_ms=int(settings.kafka_request_timeout_s * 1000),
        max_request_size=settings.kafka_max_message_bytes + 64_000,
        ack_policy=AckPolicy.MANUAL,
        graceful_timeout=15.0,
        logger=get_logger("faststream"),
        log_level=logging.DEBUG,
        description=f"{settings.service_name}: messages it hears and says",
        **broker_options(settings),
    )


class SilentlyStoppingConsumer(AIOKafkaConsumer):  # type: ignore[misc]  # untyped
    """Stops without a LeaveGroup request: the group drops it when its session times out,
    a path every broker handles (see ``kafka_leave_group_on_stop``)."""

    async def stop(self) -> None:
        coordinator = getattr(self, "_coordinator", None)
        if coordinator is not None:
            # aiokafka leaves in the coordinator's close; nothing public turns that off.
            coordinator._maybe_leave_group = _stay_in_group
        await super().stop()


async def _stay_in_group() -> None:
    return None


def create_consumer(settings: ServiceSettings, group_id: str) -> AIOKafkaConsumer:
    """A group member that commits only what it is told to (offsets are ours)."""
    kind = AIOKafkaConsumer if settings.kafka_leave_group_on_stop else SilentlyStoppingConsumer
    return kind(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group_id,
        client_id=settings.service_name,
        enable_auto_commit=False,
        auto_offset_reset=settings.kafka_auto_offset_reset,
        request_timeout_ms=int(settings.kafka_request_timeout_s * 1000) + 30_000,
        max_partition_fetch_bytes=settings.kafka_max_message_bytes + 64_000,
        **client_options(settings),
    )


async def start_broker(broker: KafkaBroker) -> None:
    """Connect the producer and its publishers; the documented subscribers stay idle."""
    await broker.connect()
    for publisher in broker.publishers:
        await publisher.start()
    broker.running = True


def document_subscription(broker: Any, subscription: Subscription, description: str) -> None:
    """Put the subscription in the service's AsyncAPI document, with its contract as the
    payload (FastStream reads it from the handler's signature)."""

    async def consume(envelope: Any) -> None:  # never called: BatchConsumer consumes
        raise NotImplementedError

    contract = subscription.contract
    consume.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                "envelope", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=contract
            )
        ],
        return_annotation=None,
    )
    consume.__annotations__ = {"envelope": contract, "return": None}
    consume.__name__ = subscription.handler.__name__
    broker.subscriber(
        subscription.topic, group_id=subscription.group_id, description=description or None
    )(consume)


def declare_publisher(broker: Any, topic: str, contract: type, description: str) -> None:
    """Document in AsyncAPI what this service says on ``topic`` (the outbox relay sends it)."""
    broker.publisher(topic, schema=contract, description=description)
