"""Rate limits that hold with replicas: two apps on one database let through one limit's worth
of posts together, per client and per form; and the sliding window they count in."""

from __future__ import annotations

import asyncio
import contextlib
import math
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa

from intake_svc.main import create_app
from intake_svc.rate_limits import (
    CLIENT,
    FORM,
    WINDOW_S,
    RateCounter,
    carried,
    retry_after,
    seconds_until_room,
)
from intake_svc.tables import rate_counts

from .conftest import tightened

GOOD = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.org",
    "subject": "Engine question",
}


@contextlib.asynccontextmanager
async def second_replica(intake) -> AsyncIterator[object]:
    """Another app made from the same settings (so the same database, and the limits the
    test tightens), serving HTTP only: a second replica of intake-svc."""
    app = create_app(intake.settings)
    try:
        yield app
    finally:
        await app.state.runtime.database.dispose()


def client_of(app: object, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 4321))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://svc")


async def post(client: httpx.AsyncClient, slug: str) -> httpx.Response:
    return await client.post(
        f"/f/{slug}", json=GOOD, headers={"Idempotency-Key": str(uuid.uuid4())}
    )


async def test_two_replicas_let_one_client_through_once(intake):
    await intake.put_form("replicas-client")
    address = "198.51.100.30"
    async with second_replica(intake) as other:
        with tightened(intake.settings, rate_per_client_per_minute=5):
            async with client_of(intake.app, address) as a, client_of(other, address) as b:
                answers = [await post((a, b)[n % 2], "replicas-client") for n in range(10)]
                elsewhere = await post(client_of(other, "198.51.100.31"), "replicas-client")
    assert [r.status_code for r in answers] == [202] * 5 + [429] * 5
    for refused in answers[5:]:
        assert 1 <= int(refused.headers["retry-after"]) <= 2 * WINDOW_S
        assert "too many posts from your address" in refused.json()["detail"]
    assert elsewhere.status_code == 202  # another address counts alone


async def test_two_replicas_let_one_form_through_once(intake):
    await intake.put_form("replicas-form")
    await intake.put_form("replicas-quiet")
    async with second_replica(intake) as other:
        with tightened(intake.settings, rate_per_form_per_minute=4):
            answers = []
            for n in range(8):  # each post from an address of its own, the replicas in turn
                async with client_of((intake.app, other)[n % 2], f"203.0.113.{40 + n}") as c:
                    answers.append(await post(c, "replicas-form"))
            async with client_of(other, "203.0.113.60") as c:
                quiet = await post(c, "replicas-quiet")
    assert [r.status_code for r in answers] == [202] * 4 + [429] * 4
    for refused in answers[4:]:
        assert 1 <= int(refused.headers["retry-after"]) <= 2 * WINDOW_S
        assert "this form is receiving too many posts" in refused.json()["detail"]
    assert quiet.status_code == 202  # another form counts alone


async def test_concurrent_posts_through_both_replicas_stay_within_the_limit(intake):
    await intake.put_form("replicas-burst")
    async with second_replica(intake) as other:
        with tightened(intake.settings, rate_per_client_per_minute=7):
            async with (
                client_of(intake.app, "198.51.100.50") as a,
                client_of(other, "198.51.100.50") as b,
            ):
                answers = await asyncio.gather(
                    *(post((a, b)[n % 2], "replicas-burst") for n in range(20))
                )
    codes = sorted(r.status_code for r in answers)
    assert codes == [202] * 7 + [429] * 13


# -- the window ------------------------------------------------------------------------------

# The start of a minute in 2100: the counters' own windows, which the running apps' sweeps
# (of windows before their previous one) leave alone.
T0 = 4_102_444_800


def unswept(counter: RateCounter) -> RateCounter:
    """A counter that does not sweep (in 2100, it would sweep the running app's windows)."""
    counter._next_sweep = math.inf
    return counter


async def counts(intake, key: str) -> dict[float, int]:
    async with intake.database.session() as session:
        rows = await session.execute(
            sa.select(rate_counts.c.window_start, rate_counts.c.n).where(rate_counts.c.key == key)
        )
    return {row.window_start.timestamp(): row.n for row in rows}


async def test_the_window_slides_over_the_turn_of_a_minute(intake):
    counter = unswept(RateCounter(intake.database))
    key = f"slide-{uuid.uuid4()}"

    async def check(at: float) -> float | None:
        refusal = await counter.check(key, "slide-form", 5, 1000, now=at)
        return None if refusal is None else refusal.wait_s

    # Five at the end of one minute; the next minute begins with them all still inside it.
    assert [await check(T0 + 59.0) for _ in range(5)] == [None] * 5
    refused = await check(T0 + 59.5)
    assert refused == pytest.approx(0.5 + 12.0)  # into the next window, until 1 of 5 left
    assert await check(T0 + 60.001) is not None
    # 12 s in, four fifths of the last minute's five are taken to be left: room for one.
    assert await check(T0 + 60 + 11.9) == pytest.approx(0.1, abs=0.01)
    assert await check(T0 + 60 + 12.0) is None
    assert await check(T0 + 60 + 12.5) is not None
    # Refused posts were not counted.
    assert await counts(intake, key) == {T0: 5, T0 + 60: 1}


async def test_a_refusing_client_leaves_the_form_uncounted(intake):
    counter = unswept(RateCounter(intake.database))
    client, form = f"c-{uuid.uuid4()}", f"f-{uuid.uuid4()}"
    assert await counter.check(client, form, 1, 10, now=T0 + 1) is None
    refusal = await counter.check(client, form, 1, 10, now=T0 + 2)
    assert refusal is not None and refusal.kind == CLIENT
    assert await counts(intake, form) == {T0: 1}
    refusal = await counter.check(f"c-{uuid.uuid4()}", form, 1, 1, now=T0 + 3)
    assert refusal is not None and refusal.kind == FORM


async def test_old_windows_are_swept(intake):
    counter = RateCounter(intake.database)
    key = f"sweep-{uuid.uuid4()}"
    await counter.check(key, "sweep-form", 10, 10, now=T0 + 1)
    await counter.check(key, "sweep-form", 10, 10, now=T0 + 61)
    await asyncio.gather(*counter._sweeping)
    assert await counts(intake, key) == {T0: 1, T0 + 60: 1}  # the previous one is still read
    await counter.check(key, "sweep-form", 10, 10, now=T0 + 121)
    await asyncio.gather(*counter._sweeping)
    assert await counts(intake, key) == {T0 + 60: 1, T0 + 120: 1}


def test_when_there_is_room_again():
    assert carried(5, 48_000) == 4 and carried(5, 1) == 1 and carried(0, 60_000) == 0
    # This window full: into the next, until this window's share falls under the limit.
    assert seconds_until_room(3, 0, 3, 10.0) == pytest.approx(50.0 + 20.0)
    assert seconds_until_room(20, 0, 20, 59.0) == pytest.approx(1.0 + 3.0)
    # Room in this window, taken by the previous one's share: until enough of it has left.
    assert seconds_until_room(5, 5, 0, 1.0) == pytest.approx(11.0)
    assert seconds_until_room(5, 10, 2, 0.0) == pytest.approx(48.0)
    assert seconds_until_room(0, 0, 0, 0.0) == WINDOW_S
    assert retry_after(0.2) == "1" and retry_after(29.01) == "30"
