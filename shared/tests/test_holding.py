"""Late arrivals: a message that came before what it needs is held and handled once it
comes, in order with the later messages of its key, on the real broker and database."""

from __future__ import annotations

import sqlalchemy as sa

from casestream.messaging.consumption import Subscription
from casestream.messaging.holding import NotYet
from casestream.persistence.tables import held_messages
from casestream.service import Runtime
from casestream.testing.plugin import eventually

from .conftest import effect_rows
from .notes import NoteEnvelope, effects, note, produce


async def record_when_known(envelope: NoteEnvelope, tx) -> None:
    """Store the note; one that says "needs:X" only once the thing X is known."""
    text = envelope.data.text
    if text.startswith("needs:"):
        thing = text.removeprefix("needs:")
        known = await tx.session.scalar(
            sa.select(sa.func.count()).where(effects.c.key == "thing", effects.c.value == thing)
        )
        if not known:
            raise NotYet(f"thing:{thing}")
    await tx.session.execute(effects.insert().values(key=envelope.subject, value=text))


async def learn_thing(envelope: NoteEnvelope, tx) -> None:
    """The thing arrives: kept, and what waited for it is released."""
    await tx.session.execute(effects.insert().values(key="thing", value=envelope.data.text))
    await tx.release([f"thing:{envelope.data.text}"])


async def hold_unknown_in_batch(envelopes: list[NoteEnvelope], tx) -> None:
    """A batch handler: holds each note that needs a thing not known yet, stores the rest."""
    known = set(
        (await tx.session.execute(sa.select(effects.c.value).where(effects.c.key == "thing")))
        .scalars()
        .all()
    )
    for envelope in envelopes:
        text = envelope.data.text
        thing = text.removeprefix("needs:") if text.startswith("needs:") else None
        if thing is not None and thing not in known:
            tx.hold(envelope, f"thing:{thing}")
            continue
        if tx.holding.is_behind(envelope):  # behind an earlier note of its key
            tx.hold(envelope, None)
            continue
        await tx.session.execute(effects.insert().values(key=envelope.subject, value=text))


async def start(settings, notes_topic, things_topic, handler, batched=False) -> Runtime:
    runtime = Runtime(settings)
    runtime.subscribe_as(
        Subscription(notes_topic, "notes", NoteEnvelope, handler, batched=batched, holds=True)
    )
    runtime.subscribe_as(Subscription(things_topic, "things", NoteEnvelope, learn_thing))
    await runtime.start()
    return runtime


async def held(database) -> list[tuple[str, str | None]]:
    async with database.session() as s:
        rows = await s.execute(
            sa.select(held_messages.c.key, held_messages.c.awaiting).order_by(held_messages.c.id)
        )
    return [tuple(r) for r in rows]


async def values_of(database, key: str) -> list[str]:
    return [v for k, v in await effect_rows(database) if k == key]


async def test_a_message_that_came_early_waits_with_those_behind_it_and_goes_once_released(
    settings, new_topic, kafka_bootstrap, database
):
    notes, things = await new_topic("notes", partitions=1), await new_topic("things")
    early = note("needs:X", subject="a")
    await produce(
        kafka_bootstrap,
        notes,
        [early, note("a after", subject="a"), note("b plain", subject="b")],
        key=None,
    )
    runtime = await start(settings, notes, things, record_when_known)
    try:
        # b is not held up by a; a's second note waits behind its first, with the default
        # retry settings: waiting is not failing.
        assert await eventually(lambda: values_of(database, "b")) == ["b plain"]
        assert await eventually(lambda: held(database)) == [("a", "thing:X"), ("a", None)]
        await produce(kafka_bootstrap, notes, [early], key=None)  # a redelivery changes nothing
        await produce(kafka_bootstrap, notes, [note("b again", subject="b")], key=None)
        await eventually(lambda: _has(database, "b", "b again"))
        assert await values_of(database, "a") == []

        await produce(kafka_bootstrap, things, [note("X", subject="X")], key=None)
        assert await eventually(lambda: _count(database, "a", 2), timeout_s=15)
    finally:
        await runtime.stop()
    assert await values_of(database, "a") == ["needs:X", "a after"]  # in order, once each
    assert await held(database) == []


async def test_a_batch_handler_holds_one_message_and_handles_the_rest_of_its_batch(
    settings, new_topic, kafka_bootstrap, database
):
    notes, things = await new_topic("notes", partitions=1), await new_topic("things")
    runtime = await start(settings, notes, things, hold_unknown_in_batch, batched=True)
    try:
        await produce(
            kafka_bootstrap,
            notes,
            [note("needs:Y", subject="a"), note("c plain", subject="c"), note("a2", subject="a")],
            key=None,
        )
        assert await eventually(lambda: values_of(database, "c")) == ["c plain"]
        # a2 came after the held one of its key: it waits behind it, not handled ahead.
        assert await eventually(lambda: _held_count(database, 2)) and (
            await values_of(database, "a") == []
        )
        await produce(kafka_bootstrap, things, [note("Y", subject="Y")], key=None)
        assert await eventually(lambda: _count(database, "a", 2), timeout_s=15)
    finally:
        await runtime.stop()
    assert await values_of(database, "a") == ["needs:Y", "a2"]


async def test_a_message_that_waits_too_long_goes_to_the_dead_letters_with_what_it_awaited(
    settings, new_topic, kafka_bootstrap, database, read_topic
):
    notes, things = await new_topic("notes", partitions=1), await new_topic("things")
    settings.held_give_up_s = 1.0  # looked at again after 5 s: by then it is too old
    runtime = await start(settings, notes, things, record_when_known)
    try:
        await produce(kafka_bootstrap, notes, [note("needs:never", subject="z")], key=None)
        [dead] = await read_topic(f"{notes}.dlq", expected=1, timeout_s=30)
        await eventually(lambda: _none_held(database))
    finally:
        await runtime.stop()
    headers = {k: v.decode() for k, v in dead.headers}
    assert headers["dlq-reason"] == "waited too long"
    assert "thing:never" in headers["dlq-error"]
    assert await values_of(database, "z") == []


async def _has(database, key, value):
    return value in await values_of(database, key)


async def _count(database, key, n):
    return len(await values_of(database, key)) >= n


async def _held_count(database, n):
    return len(await held(database)) >= n


async def _none_held(database):
    return await held(database) == []


async def test_a_subscription_that_does_not_hold_treats_not_yet_as_a_failure(
    settings, new_topic, kafka_bootstrap, database, read_topic
):
    notes = await new_topic("notes", partitions=1)
    runtime = Runtime(settings)
    # Without holds=True nothing would hold its key's later messages back: it cannot wait.
    runtime.subscribe_as(Subscription(notes, "eager", NoteEnvelope, record_when_known))
    await runtime.start()
    try:
        await produce(
            kafka_bootstrap,
            notes,
            [note("needs:Q", subject="q"), note("q after", subject="q")],
            key=None,
        )
        [dead] = await read_topic(f"{notes}.dlq", expected=1)
        assert await eventually(lambda: values_of(database, "q")) == ["q after"]
    finally:
        await runtime.stop()
    headers = {k: v.decode() for k, v in dead.headers}
    assert headers["dlq-reason"] == "handler kept failing"
    assert headers["dlq-attempts"] == str(settings.consume_max_attempts)
    assert await held(database) == []
