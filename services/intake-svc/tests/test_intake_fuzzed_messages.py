"""Every topic intake-svc consumes gets bad records (casestream.testing.message_fuzz): each goes
to its dead-letter topic with why, and the partition moves on to a valid marker after them."""

from __future__ import annotations

from casestream import topics
from casestream.testing.message_fuzz import fuzz_consumers

# What intake-svc consumes: outcomes, case types (forms are checked against them) and case
# events (the read model submissions' visibility is judged on).
CONSUMED = {topics.CASE_SUBMISSION_OUTCOMES, topics.CASETYPE_EVENTS, topics.CASE_EVENTS}


async def test_bad_records_are_dead_lettered_and_the_partition_moves_on(intake):
    report = await fuzz_consumers(intake)
    print(report.describe())
    assert {run.topic for run in report.topics} == {intake.topic(t) for t in CONSUMED}
    assert not report.failures, report.describe()
