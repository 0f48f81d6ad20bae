"""A consumer group whose members all stop at once (a graceful restart of every replica) is
joined again by the next member, on the real broker."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer

from casestream.messaging.broker import create_consumer


async def _assigned(consumers: list[AIOKafkaConsumer], timeout_s: float) -> None:
    async with asyncio.timeout(timeout_s):
        while not all(c.assignment() for c in consumers):
            await asyncio.gather(*(c.getmany(timeout_ms=200) for c in consumers))


async def _member(settings, topic: str, group: str) -> AIOKafkaConsumer:
    consumer = create_consumer(settings, group)
    consumer.subscribe([topic])
    await consumer.start()
    return consumer


async def _stop_both_then_join(settings, topic: str, leader_first: bool) -> set[int]:
    group = f"handover-{uuid.uuid4().hex[:8]}"
    first = await _member(settings, topic, group)  # joins alone: the group's leader
    await _assigned([first], 30)
    second = await _member(settings, topic, group)
    await _assigned([first, second], 60)
    for consumer in [first, second] if leader_first else [second, first]:
        await consumer.stop()
    # Before: with the follower gone first, Tansu kept the departed leader as the leader of
    # the rebalance, and no later member was ever given a partition (it never started).
    async with asyncio.timeout(90):
        third = await _member(settings, topic, group)
        await _assigned([third], 90)
    try:
        return {tp.partition for tp in third.assignment()}
    finally:
        await third.stop()


async def test_a_group_whose_members_all_stopped_together_is_taken_over_by_the_next(
    settings, new_topic
):
    topic = await new_topic("handover", partitions=2)
    follower_first, leader_first = await asyncio.gather(
        _stop_both_then_join(settings, topic, leader_first=False),
        _stop_both_then_join(settings, topic, leader_first=True),
    )
    assert follower_first == {0, 1}
    assert leader_first == {0, 1}
