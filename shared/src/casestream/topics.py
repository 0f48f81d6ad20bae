"""Topic names, partition counts and the partition key rule.

Topics are ``<owner>.<kind>``; dead letters go to ``<topic>.dlq``. Everything about a case is
keyed by the case id, so one case's messages land on one partition, in order.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

INTAKE_SUBMISSIONS = "intake.submissions"
CASE_EVENTS = "case.events"
CASE_COMMANDS = "case.commands"
CASE_SUBMISSION_OUTCOMES = "case.submission_outcomes"
CONTACT_EVENTS = "contact.events"
CASETYPE_EVENTS = "casetype.events"
ACTIVITY_EVENTS = "activity.events"
ACTIVITY_COMMANDS = "activity.commands"
NOTIFY_COMMANDS = "notify.commands"
NOTIFY_EVENTS = "notify.events"
NOTIFY_TEMPLATES = "notify.templates"  # each template as saved, keyed by its name
SALES_EVENTS = "sales.events"  # quotations (case-svc), keyed by the case id

DEFAULT_PARTITIONS = 6


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = DEFAULT_PARTITIONS


ALL_TOPICS: tuple[str, ...] = (
    INTAKE_SUBMISSIONS,
    CASE_EVENTS,
    CASE_COMMANDS,
    CASE_SUBMISSION_OUTCOMES,
    CONTACT_EVENTS,
    CASETYPE_EVENTS,
    ACTIVITY_EVENTS,
    ACTIVITY_COMMANDS,
    NOTIFY_COMMANDS,
    NOTIFY_EVENTS,
    NOTIFY_TEMPLATES,
    SALES_EVENTS,
)


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlq"


def case_key(case_id: object) -> str:
    """The partition key of every message about a case."""
    return str(case_id)


def topic_specs(partitions: int = DEFAULT_PARTITIONS) -> list[TopicSpec]:
    """Every topic the system uses, with its dead-letter twin."""
    names = [*ALL_TOPICS, *(dead_letter_topic(t) for t in ALL_TOPICS)]
    return [TopicSpec(name, partitions) for name in names]


async def ensure_topics(
    bootstrap_servers: str, specs: list[TopicSpec], timeout_s: float = 30.0
) -> list[str]:
    """Create the topics that do not exist yet (Tansu creates none by itself). Returns the
    names it created; running it again creates nothing."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
    async with asyncio.timeout(timeout_s):
        await admin.start()
    try:
        async with asyncio.timeout(timeout_s):
            existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if missing:
            async with asyncio.timeout(timeout_s):
                await admin.create_topics(
                    [
                        NewTopic(s.name, num_partitions=s.partitions, replication_factor=1)
                        for s in missing
                    ]
                )
        return [s.name for s in missing]
    finally:
        await admin.close()
