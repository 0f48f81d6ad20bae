"""Emails whose fate is known are counted by status at /metrics, for alerts on failing email
(deploy/k8s/monitoring): counted once its outcome committed."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from casestream import topics

from .test_notify_delivery import _final, _template


async def sent_count(service) -> float:
    text = (await service.client.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        if family.name == "casestream_emails":
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.labels.get("status") == "sent":
                    return sample.value
    return 0.0


async def test_a_sent_email_is_counted(service):
    await _template(service)
    before = await sent_count(service)
    opened = service.case_opened(subject="Counted")
    command = service.send_email(opened.data["case"]["id"], template="acknowledgement")
    await service.deliver(topics.CASE_EVENTS, opened)
    await service.deliver(topics.NOTIFY_COMMANDS, command, times=2)
    [email] = await _final(service, opened.data["case"]["id"])
    assert email["status"] == "sent"
    # Emails of earlier tests may finish meanwhile: at least this one is counted.
    assert await sent_count(service) - before >= 1
