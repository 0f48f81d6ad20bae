"""Create every casestream topic (and its dead-letter twin) that does not exist yet.

The one-shot topic Job of a deployment runs this. Unlike ``casestream.topics.ensure_topics``
(which creates replication factor 1, right for a single broker) it takes the replication factor
and ``min.insync.replicas`` a production cluster needs. Running it again creates nothing.

Environment: KAFKA_BOOTSTRAP_SERVERS, TOPIC_PREFIX (default ""), TOPIC_PARTITIONS (6),
TOPIC_REPLICATION_FACTOR (1), TOPIC_MIN_INSYNC_REPLICAS (unset: the broker's default), and
the services' Kafka security settings under the prefix CASESTREAM_
(CASESTREAM_KAFKA_SECURITY_PROTOCOL, ..._SSL_CAFILE, ..._SASL_USERNAME: docs/configuration.md).
"""

from __future__ import annotations

import asyncio
import os

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from casestream.messaging.kafka_security import client_options
from casestream.settings import ServiceSettings
from casestream.topics import topic_specs


async def create_topics() -> None:
    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    prefix = os.environ.get("TOPIC_PREFIX", "")
    partitions = int(os.environ.get("TOPIC_PARTITIONS", "6"))
    replication = int(os.environ.get("TOPIC_REPLICATION_FACTOR", "1"))
    configs = {}
    if min_isr := os.environ.get("TOPIC_MIN_INSYNC_REPLICAS"):
        # With acks=all, a write succeeds once this many replicas have it.
        configs["min.insync.replicas"] = min_isr

    security = client_options(ServiceSettings())  # CASESTREAM_KAFKA_SECURITY_PROTOCOL, ...
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000, **security)
    await asyncio.wait_for(admin.start(), 60)
    try:
        existing = set(await admin.list_topics())
        wanted = [f"{prefix}{spec.name}" for spec in topic_specs(partitions)]
        missing = [name for name in wanted if name not in existing]
        if missing:
            await admin.create_topics(
                [NewTopic(name, partitions, replication, topic_configs=configs) for name in missing]
            )
        print(f"created {len(missing)} topic(s): {', '.join(missing) or '-'}", flush=True)
        print(f"already there: {len(wanted) - len(missing)}", flush=True)
    finally:
        await admin.close()


if __name__ == "__main__":
    asyncio.run(create_topics())
