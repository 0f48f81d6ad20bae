"""Every topic intake-svc consumes gets bad records (casestream.testing.message_fuzz): each goes
to its dead-letter topic with why, and the partition moves on to a valid marker after them."""

from __future__ import annotations

from casestream.testing.message_fuzz import assert_bad_records_dead_lettered


async def test_bad_records_are_dead_lettered_and_the_partition_moves_on(intake):
    await assert_bad_records_dead_lettered(intake)
