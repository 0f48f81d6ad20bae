"""Fuzzing a running service's consumers with bad records: for every topic it consumes (read
from its runtime's consumers, so a new subscription is covered at once), records that are no
message of the topic's contract (not JSON, not UTF-8, JSON of the wrong shape, fields of the
wrong type, a NUL character, an unknown ``type``) and one that is valid but huge, then a
valid marker on the same key (so the same partition). Each bad record must reach
``<topic>.dlq`` with a ``dlq-reason`` and a ``dlq-error`` naming the problem, and the marker
must be handled after them: claimed in the consumer group's inbox (in the transaction of its
handler) and its offset committed. The partition moved on.

The valid-looking records are made from the shared factories (``SAMPLES``: one per
contract), so each topic's fuzz looks like what its owner says. A subscription with a
contract not in ``SAMPLES`` fails the run, naming it: add a sample. A test may give its own
marker for a topic (``markers``) when the sample is not one its handler takes (a command
that needs data the service does not have).

    async def test_bad_messages_go_to_the_dead_letters(service):
        report = await fuzz_consumers(service)
        assert not report.failures, report.describe()
"""

from __future__ import annotations

import asyncio
import json
import random
import string
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from aiokafka import TopicPartition
from pydantic import BaseModel

from casestream.contracts.activity import (
    ACTIVITY_SCHEDULED,
    ActivityCommandEnvelope,
    ActivityEnvelope,
    NewActivity,
    ScheduleActivity,
)
from casestream.contracts.case import (
    CONTACT_CREATED,
    SUBMISSION_OUTCOME,
    CaseCommandEnvelope,
    CaseEnvelope,
    CaseTypeEnvelope,
    ContactEnvelope,
    ContactEvent,
    ContactInput,
    NewCase,
    OpenCase,
    SubmissionOutcome,
    SubmissionOutcomeEnvelope,
)
from casestream.contracts.intake import (
    SUBMISSION_RECEIVED,
    SubmissionEnvelope,
    SubmissionReceived,
    SubmittedCase,
    SubmittedContact,
)
from casestream.contracts.notify import (
    EMAIL_SENT,
    EmailEnvelope,
    EmailEvent,
    EmailState,
    SendEmail,
    SendEmailEnvelope,
    TemplateEnvelope,
)
from casestream.contracts.sales import SalesEnvelope
from casestream.envelope import Envelope, new_envelope
from casestream.persistence.tables import inbox
from casestream.testing.factories import (
    activity_event,
    activity_state,
    case_event,
    case_state,
    case_type_published,
    case_type_version,
    contact_state,
    quotation_event,
    quotation_state,
    template_saved,
)
from casestream.testing.plugin import records_on
from casestream.topics import dead_letter_topic

HUGE = 200_000  # characters: well under the broker's 1 MB, as a long text could be
UNKNOWN_TYPE = "fuzz.never_heard_of"
# Not a NUL: an escaped backslash and "u0000", as JSON writes the text \u0000.
NOT_A_NUL = "C:\\u0000 is not a NUL"

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Sample:
    """A valid message of a contract (``make()``: a fresh one), with ``text``: where in its
    JSON a free text is (a NUL, a wrong type or a huge string goes there), and ``name``:
    where a name or type is (what a consumer may keep in an index: a huge one too)."""

    make: Callable[[], Envelope[Any]]
    text: Path
    name: Path


def _command(kind: str, subject: str, command: BaseModel) -> Envelope[Any]:
    return new_envelope(type=kind, source="fuzz", subject=subject, data=command)


def _case_command() -> Envelope[Any]:
    """Opening a case of the demo's case type (general_enquiry), keyed by a fresh id."""
    case = NewCase(
        case_type="general_enquiry",
        subject="Noise at night",
        details="Every night.",
        client=ContactInput(first_name="Ada", email=f"fuzz-{uuid.uuid4().hex[:10]}@example.org"),
    )
    return _command(OpenCase.command_type, str(uuid.uuid4()), OpenCase(actor="fuzz", case=case))


def _activity_command() -> Envelope[Any]:
    activity = NewActivity(type="follow_up_call", subject="Call back")
    command = ScheduleActivity(actor="fuzz", activity=activity)
    return _command(ScheduleActivity.command_type, str(uuid.uuid4()), command)


def _send_email() -> Envelope[Any]:
    case_id = uuid.uuid4()
    command = SendEmail(
        notification_id=uuid.uuid4(),
        case_id=case_id,
        to=["ada@example.org"],
        subject="Your case",
        body_text="We are on it.",
    )
    return _command(SendEmail.command_type, str(case_id), command)


def _contact_event() -> Envelope[Any]:
    contact = contact_state()
    data = ContactEvent(contact=contact)
    return new_envelope(type=CONTACT_CREATED, source="case-svc", subject=str(contact.id), data=data)


def _email_event() -> Envelope[Any]:
    case_id, notification_id = uuid.uuid4(), uuid.uuid4()
    email = EmailState(
        id=uuid.uuid4(),
        notification_id=notification_id,
        case_id=case_id,
        to=["ada@example.org"],
        subject="Your case",
        body_text="We are on it.",
        status="sent",
        message_id=f"<{notification_id}@fuzz>",
        attempts=1,
        sent_at=datetime.now(UTC),
    )
    return new_envelope(
        type=EMAIL_SENT, source="notify-svc", subject=str(case_id), data=EmailEvent(email=email)
    )


def _submission() -> Envelope[Any]:
    email = f"fuzz-{uuid.uuid4().hex[:10]}@example.org"
    received = SubmissionReceived(
        submission_id=uuid.uuid4(),
        form="fuzz",
        case_type="general_enquiry",
        received_at=datetime.now(UTC),
        contact=SubmittedContact(first_name="Ada", email=email),
        case=SubmittedCase(subject="Noise at night", details="Every night."),
    )
    return new_envelope(type=SUBMISSION_RECEIVED, source="intake-svc", subject=email, data=received)


def _outcome() -> Envelope[Any]:
    outcome = SubmissionOutcome(
        submission_id=uuid.uuid4(), form="fuzz", outcome="rejected", reason="no such case type"
    )
    return new_envelope(
        type=SUBMISSION_OUTCOME,
        source="case-svc",
        subject=str(outcome.submission_id),
        data=outcome,
    )


def _fresh_name() -> str:
    return f"fuzz_{uuid.uuid4().hex[:10]}"


SAMPLES: dict[type[BaseModel], Sample] = {
    CaseEnvelope: Sample(
        lambda: case_event(case_state()), ("data", "case", "subject"), ("data", "case", "case_type")
    ),
    ContactEnvelope: Sample(
        _contact_event, ("data", "contact", "display_name"), ("data", "contact", "email")
    ),
    CaseTypeEnvelope: Sample(
        lambda: case_type_published(case_type_version(_fresh_name())),
        ("data", "title"),
        ("data", "name"),
    ),
    ActivityEnvelope: Sample(
        lambda: activity_event(activity_state(uuid.uuid4()), ACTIVITY_SCHEDULED),
        ("data", "activity", "subject"),
        ("data", "activity", "type"),
    ),
    EmailEnvelope: Sample(
        _email_event, ("data", "email", "body_text"), ("data", "email", "message_id")
    ),
    TemplateEnvelope: Sample(
        lambda: template_saved(_fresh_name()), ("data", "body_text"), ("data", "name")
    ),
    SubmissionEnvelope: Sample(_submission, ("data", "case", "details"), ("data", "form")),
    SubmissionOutcomeEnvelope: Sample(_outcome, ("data", "reason"), ("data", "form")),
    CaseCommandEnvelope: Sample(
        _case_command, ("data", "case", "details"), ("data", "case", "case_type")
    ),
    ActivityCommandEnvelope: Sample(
        _activity_command, ("data", "activity", "details"), ("data", "activity", "type")
    ),
    SendEmailEnvelope: Sample(_send_email, ("data", "body_text"), ("data", "template")),
    SalesEnvelope: Sample(
        lambda: quotation_event(quotation_state(uuid.uuid4())),
        ("data", "quotation", "lines", 0, "description"),
        ("data", "quotation", "number"),
    ),
}


@dataclass(frozen=True)
class BadRecord:
    """A record a consumer must dead-letter (``must_dead_letter``; else it may also handle
    it), with ``problem``: what its ``dlq-error`` must contain (case-insensitive)."""

    name: str
    value: bytes | None
    key: str
    problem: str
    must_dead_letter: bool = True


def _json(message: Any) -> bytes:
    return json.dumps(message).encode()


def _set(message: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    """A copy of ``message`` (a fresh id) with ``value`` at ``path``."""
    copy: dict[str, Any] = json.loads(json.dumps(message))
    copy["id"] = str(uuid.uuid4())
    at: Any = copy
    for step in path[:-1]:
        at = at[step]
    at[path[-1]] = value
    return copy


def bad_records(contract: type[BaseModel], key: str | None = None) -> list[BadRecord]:
    """The bad records for a topic whose contract is ``contract``, keyed by ``key`` (by the
    sample's subject if None); the valid-looking ones are made from its ``SAMPLES`` entry."""
    sample = sample_of(contract)
    message = sample.make().model_dump(mode="json")
    key = key or message["subject"]
    text = sample.text
    # Words of random letters (the same every run): text PostgreSQL cannot compress away.
    huge = "".join(random.Random(HUGE).choices(string.ascii_letters + " ", k=HUGE))
    nul_in_key = _set(message, ("data", "fuzz\u0000"), 1)
    return [
        BadRecord("not JSON", b"{this is not json", key, "invalid json"),
        BadRecord("empty", b"", key, "invalid json"),
        BadRecord("no value (a tombstone)", None, key, "tombstone"),
        BadRecord("not UTF-8", b"\xff\xfe" + _json(message)[2:], key, "invalid json"),
        BadRecord(
            "not UTF-8 inside a string",
            _json(_set(message, text, "@@")).replace(b"@@", b"\xc3\x28"),
            key,
            "invalid unicode",
        ),
        BadRecord(
            "a lone surrogate",
            _json(_set(message, text, "@@")).replace(b"@@", b"\\ud800"),
            key,
            "invalid json",
        ),
        BadRecord("a JSON array", b"[1, 2, 3]", key, "should be an object"),
        BadRecord("a JSON string", b'"case.opened"', key, "should be an object"),
        BadRecord("an object of another shape", b'{"hello": "world"}', key, "field required"),
        BadRecord(
            "envelope fields of the wrong types",
            _json(
                {
                    **message,
                    "id": 12345,
                    "version": "one",
                    "occurred_at": "yesterday",
                    "subject": ["not", "a", "string"],
                    "data": "not an object",
                }
            ),
            key,
            "uuid",
        ),
        BadRecord(
            "a text of the wrong type", _json(_set(message, text, [1, 2])), key, "valid string"
        ),
        BadRecord(
            "a NUL in the subject",
            _json(_set(message, ("subject",), f"{key}\u0000")),
            key,
            "NUL",
        ),
        BadRecord("a NUL in a text", _json(_set(message, text, "Noise\u0000at night")), key, "NUL"),
        BadRecord("a NUL in a field name", _json(nul_in_key), key, "NUL"),
        BadRecord(
            "an unknown type",
            _json({**_set(message, ("type",), UNKNOWN_TYPE)}),
            key,
            "unknown",
        ),
        # Valid as far as the contract goes (unless it bounds the field): a handler may take
        # them, or fail on them (an index row too large) and dead-letter them after its
        # retries.
        BadRecord(
            f"a huge text ({HUGE // 1000} KB)",
            _json(_set(message, text, huge)),
            key,
            "",
            must_dead_letter=False,
        ),
        BadRecord(
            f"a huge name ({HUGE // 1000} KB)",
            _json(_set(message, sample.name, huge)),
            key,
            "",
            must_dead_letter=False,
        ),
    ]


def sample_of(contract: type[BaseModel]) -> Sample:
    try:
        return SAMPLES[contract]
    except KeyError:
        raise LookupError(
            f"no fuzz sample for {contract.__name__}: add one to "
            "casestream.testing.message_fuzz.SAMPLES"
        ) from None


def marker_for(contract: type[BaseModel]) -> Envelope[Any]:
    """A valid message of ``contract`` whose text holds an escaped backslash before
    "u0000" (no NUL: it must be handled)."""
    sample = sample_of(contract)
    message = _set(sample.make().model_dump(mode="json"), sample.text, NOT_A_NUL)
    return Envelope[Any].model_validate(message)


@dataclass
class TopicFuzz:
    """One topic's run: what became of each bad record (``outcomes``) and the marker."""

    topic: str
    groups: list[str]
    partition: int = -1
    outcomes: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class MessageFuzzReport:
    topics: list[TopicFuzz] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failures(self) -> list[str]:
        return [f"{t.topic}: {f}" for t in self.topics for f in t.failures]

    def describe(self) -> str:
        lines = [f"{len(self.failures)} failures over {len(self.topics)} topics:"]
        lines += self.failures
        for topic in self.topics:
            lines.append(f"{topic.topic} ({topic.seconds:.1f} s):")
            lines += [f"  {name}: {outcome}" for name, outcome in topic.outcomes.items()]
        return "\n".join(lines)


async def fuzz_consumers(
    service: Any,
    markers: Mapping[str, Callable[[], Envelope[Any]]] | None = None,
    timeout_s: float = 30.0,
) -> MessageFuzzReport:
    """Fuzz every topic ``service`` (a ``ServiceHarness``) consumes, all at once.
    ``markers``: {unprefixed topic: make its marker} where the sample will not do."""
    started = time.monotonic()
    groups: dict[str, list[Any]] = {}
    for consumer in service.app.state.runtime.consumers:
        subscriptions = groups.setdefault(consumer.subscription.topic, [])
        if consumer.subscription not in subscriptions:
            subscriptions.append(consumer.subscription)
    prefix = service.settings.topic("")
    runs = [
        _fuzz_topic(service, subscriptions, (markers or {}).get(topic[len(prefix) :]), timeout_s)
        for topic, subscriptions in groups.items()
    ]
    report = MessageFuzzReport(topics=list(await asyncio.gather(*runs)))
    report.seconds = time.monotonic() - started
    return report


async def _fuzz_topic(
    service: Any,
    subscriptions: list[Any],
    make_marker: Callable[[], Envelope[Any]] | None,
    timeout_s: float,
) -> TopicFuzz:
    started = time.monotonic()
    topic = subscriptions[0].topic
    contracts = {s.contract for s in subscriptions}
    run = TopicFuzz(topic, [s.group_id for s in subscriptions])
    if len(contracts) > 1:
        run.failures.append(f"its consumers read it as different contracts: {contracts}")
        return run
    contract = subscriptions[0].contract
    try:
        marker = make_marker() if make_marker is not None else marker_for(contract)
        bad = bad_records(contract, marker.subject)
    except LookupError as error:
        run.failures.append(str(error))
        return run
    producer = service.producer
    offsets: dict[int, BadRecord] = {}
    for record in bad:
        sent = await producer.send_and_wait(topic, record.value, key=record.key.encode())
        offsets[sent.offset] = record
        run.partition = sent.partition
    sent = await producer.send_and_wait(
        topic, json.dumps(marker.model_dump(mode="json")).encode(), key=marker.subject.encode()
    )
    if sent.partition != run.partition:
        run.failures.append("the marker went to another partition than its key's records")
    for subscription in subscriptions:
        await _handled(service, subscription, marker.id, sent.offset + 1, run, timeout_s)
    must = [r for r in bad if r.must_dead_letter]

    def ours(record: Any) -> bool:
        return _header(record, "dlq-original-partition") == str(run.partition)

    letters_topic, keys = dead_letter_topic(topic), {marker.subject}
    try:
        letters = await records_on(
            service.kafka_bootstrap,
            letters_topic,
            expected=len(must) * len(subscriptions),
            timeout_s=timeout_s,
            keys=keys,
            grace_s=0.5,
            match=ours,
        )
    except AssertionError:  # fewer: _judge names the missing ones
        letters = await records_on(
            service.kafka_bootstrap, letters_topic, expected=0, keys=keys, match=ours
        )
    found: dict[int, list[dict[str, str]]] = {}
    for letter in letters:
        headers = {k: v.decode(errors="replace") for k, v in letter.headers}
        found.setdefault(int(headers.get("dlq-original-offset", -1)), []).append(headers)
    for headers in found.get(sent.offset, []):
        run.failures.append(
            f"the marker itself was dead-lettered ({headers.get('dlq-reason')}: "
            f"{headers.get('dlq-error', '')[:300]}): give the test a marker its handler takes"
        )
    for offset, record in offsets.items():
        run.outcomes[record.name] = _judge(record, found.get(offset, []), len(subscriptions), run)
    run.seconds = time.monotonic() - started
    return run


def _judge(record: BadRecord, letters: list[dict[str, str]], groups: int, run: TopicFuzz) -> str:
    if not letters:
        if record.must_dead_letter:
            run.failures.append(f"{record.name}: not dead-lettered")
            return "NOT dead-lettered"
        return "handled"
    said = "; ".join(
        f"{h.get('dlq-reason')}: {' '.join(h.get('dlq-error', '').split())[:200]}" for h in letters
    )
    for headers in letters:
        reason, error = headers.get("dlq-reason"), headers.get("dlq-error", "")
        if not reason:
            run.failures.append(f"{record.name}: dead-lettered without a dlq-reason")
        if record.problem.lower() not in error.lower():
            run.failures.append(
                f"{record.name}: its dlq-error does not name {record.problem!r}: {error[:300]}"
            )
    if len(letters) != groups:
        run.failures.append(f"{record.name}: {len(letters)} dead letters for {groups} groups")
    return f"dead-lettered ({said})"


async def _handled(
    service: Any,
    subscription: Any,
    message_id: uuid.UUID,
    next_offset: int,
    run: TopicFuzz,
    timeout_s: float,
) -> None:
    """Wait until the marker is claimed in the group's inbox and its offset committed."""
    group = subscription.group_id
    consumer = next(
        c.consumer
        for c in service.app.state.runtime.consumers
        if c.subscription is subscription and c.consumer is not None
    )
    claim = sa.select(sa.func.count()).where(
        inbox.c.consumer == group, inbox.c.message_id == message_id
    )
    tp = TopicPartition(subscription.topic, run.partition)
    deadline = time.monotonic() + timeout_s
    claimed = committed = False
    while time.monotonic() < deadline:
        if not claimed:
            async with service.database.transaction() as tx:
                claimed = bool((await tx.session.execute(claim)).scalar())
        if claimed:
            committed = (await consumer.committed(tp) or 0) >= next_offset
            if committed:
                return
        await asyncio.sleep(0.1)
    run.failures.append(
        f"{group}: the marker after the bad records was "
        + ("handled but its offset not committed" if claimed else "not handled")
        + f" within {timeout_s:.0f} s: the partition did not move on"
    )


def _header(record: Any, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            text: str = value.decode(errors="replace")
            return text
    return None


__all__ = [
    "HUGE",
    "SAMPLES",
    "BadRecord",
    "MessageFuzzReport",
    "Sample",
    "TopicFuzz",
    "bad_records",
    "fuzz_consumers",
    "marker_for",
]


async def assert_bad_records_dead_lettered(service: Any) -> None:
    """Every topic ``service`` consumes gets the bad records: each must reach its dead-letter
    topic with why, and a valid marker after them must be handled (the partition moved on)."""
    report = await fuzz_consumers(service)
    print(report.describe())
    assert report.topics, "the service consumes no topic"
    assert not report.failures, report.describe()
