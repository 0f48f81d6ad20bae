"""What is due: GET /activities filtered, ordered by due time, paginated, and only what the
caller may see (the case's visibility, learnt from case.events)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from casestream import topics
from casestream.contracts.case import CASE_UPDATED
from casestream.envelope import Envelope
from casestream.settings import StaffToken
from casestream.testing.factories import case_event, case_state
from casestream.testing.plugin import eventually
from casestream.testing.services import STAFF_HEADERS

NOW = datetime.now(UTC).replace(microsecond=0)


def token_for(service, user: str, rights: list[str]) -> dict[str, str]:
    """A bearer token for ``user`` with ``rights``, known to the running service."""
    token = f"{user}-{uuid.uuid4().hex[:6]}"
    service.settings.staff_tokens[token] = StaffToken(user=user, rights=rights)
    return {"Authorization": f"Bearer {token}"}


def case_changed(
    case_id: uuid.UUID, *, instance: str = "cases", assignee: str | None = None, version: int = 2
) -> Envelope:
    case = case_state(
        at=datetime(2025, 3, 3, tzinfo=UTC),
        id=case_id,
        instance=instance,
        case_type="enquiry",
        subject="Noise",
        assignee=assignee,
        created_by="someone_else",
        version=version,
    )
    return case_event(case, CASE_UPDATED)


async def create(service, **body) -> dict:
    answer = await service.client.post(
        "/activities", json={"type": "follow_up_call", **body}, headers=STAFF_HEADERS
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


async def listed(service, headers=STAFF_HEADERS, **params) -> list[str]:
    answer = await service.client.get("/activities", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return [a["id"] for a in answer.json()["items"]]


def at(hours: float) -> str:
    return (NOW + timedelta(hours=hours)).isoformat()


async def test_my_work_is_filtered_and_ordered_by_due_time(service):
    me = f"dora_{uuid.uuid4().hex[:6]}"
    mine = token_for(service, me, ["admin"])
    case_id = str(uuid.uuid4())
    late = await create(service, due_at=at(-48), assignee_ids=[me], case_id=case_id)
    later = await create(service, due_at=at(-2), assignee_ids=["x", me], type="email")
    soon = await create(service, due_at=at(5), assignee_ids=[me], case_id=case_id)
    future = await create(service, due_at=at(24 * 30), assignee_ids=[me])
    done = await create(service, due_at=at(-30), assignee_ids=[me])
    called_off = await create(service, due_at=at(-20), assignee_ids=[me])
    await create(service, due_at=at(-40), assignee_ids=["somebody_else"], case_id=case_id)
    complete = await service.client.post(
        f"/activities/{done['id']}/complete", json={}, headers=STAFF_HEADERS
    )
    assert complete.status_code == 200
    cancel = await service.client.post(
        f"/activities/{called_off['id']}/cancel", headers=STAFF_HEADERS
    )
    assert cancel.status_code == 200

    everything = [late, done, called_off, later, soon, future]
    assert await listed(service, mine, assignee="me") == [a["id"] for a in everything]
    assert await listed(service, assignee=me) == [a["id"] for a in everything]
    assert await listed(service, mine, assignee="me", overdue="true") == [
        late["id"],
        later["id"],
    ]
    assert await listed(service, mine, assignee="me", status="scheduled") == [
        a["id"] for a in (late, later, soon, future)
    ]
    assert await listed(service, mine, assignee="me", status="completed") == [done["id"]]
    assert await listed(service, mine, assignee="me", status="cancelled") == [called_off["id"]]
    assert await listed(service, mine, assignee="me", due_before=at(6), status="scheduled") == [
        a["id"] for a in (late, later, soon)
    ]
    # What is coming up (the mirror of overdue), and a window between two times.
    assert await listed(service, mine, assignee="me", status="scheduled", due_after=at(0)) == [
        soon["id"],
        future["id"],
    ]
    assert await listed(
        service, mine, assignee="me", status="scheduled", due_after=at(-3), due_before=at(6)
    ) == [later["id"], soon["id"]]
    assert await listed(service, due_after=at(4), due_before=at(6), case_id=case_id) == [soon["id"]]
    assert await listed(service, mine, assignee="me", type="email") == [later["id"]]
    assert await listed(service, mine, assignee="me", case_id=case_id) == [late["id"], soon["id"]]
    # Without an assignee: the same order over everyone's work.
    on_case = await listed(service, case_id=case_id, overdue="true")
    assert on_case[0] == late["id"] and len(on_case) == 2

    # Reassigned and rescheduled: the list follows.
    await service.client.patch(
        f"/activities/{soon['id']}",
        json={"assignee_ids": ["x"], "due_at": at(-1)},
        headers=STAFF_HEADERS,
    )
    assert await listed(service, mine, assignee="me", status="scheduled") == [
        a["id"] for a in (late, later, future)
    ]
    assert soon["id"] in await listed(service, assignee="x", overdue="true")


async def test_pages_follow_each_other_without_gaps_or_repeats(service):
    me = f"pat_{uuid.uuid4().hex[:6]}"
    created = [
        await create(service, due_at=at(-10 + (i // 2)), assignee_ids=[me]) for i in range(7)
    ]
    expected = sorted(created, key=lambda a: (a["due_at"], a["id"]))
    for params in ({"assignee": me}, {"assignee": me, "overdue": "true"}):
        seen, cursor = [], None
        while True:
            answer = await service.client.get(
                "/activities",
                params={**params, "limit": 3, **({"cursor": cursor} if cursor else {})},
                headers=STAFF_HEADERS,
            )
            page = answer.json()
            assert len(page["items"]) <= 3
            seen += [a["id"] for a in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [a["id"] for a in expected]
    bad = await service.client.get(
        "/activities", params={"cursor": "not-a-cursor"}, headers=STAFF_HEADERS
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "cursor"]
    naive = await service.client.get(
        "/activities", params={"due_before": "2025-01-01T00:00:00"}, headers=STAFF_HEADERS
    )
    assert naive.status_code == 422 and naive.json()["detail"][0]["loc"] == [
        "query",
        "due_before",
    ]


async def test_callers_see_only_the_activities_of_cases_they_may_see(service):
    tag = f"team_{uuid.uuid4().hex[:6]}"
    olga = token_for(service, "olga", ["cases:cases:own"])
    ivan = token_for(service, "ivan", ["cases:cases:all"])
    nina = token_for(service, "nina", [])
    hers, other, elsewhere = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await service.deliver(topics.CASE_EVENTS, case_changed(hers, assignee="olga"))
    await service.deliver(topics.CASE_EVENTS, case_changed(other, assignee="ivan"))
    await service.deliver(topics.CASE_EVENTS, case_changed(elsewhere, instance="applicants"))

    on_hers = await create(service, case_id=str(hers), due_at=at(-3), assignee_ids=[tag])
    on_other = await create(service, case_id=str(other), due_at=at(-2), assignee_ids=[tag])
    on_elsewhere = await create(service, case_id=str(elsewhere), due_at=at(-1), assignee_ids=[tag])
    for_olga = await create(service, due_at=at(1), assignee_ids=[tag, "olga"])
    for_nobody = await create(service, due_at=at(2), assignee_ids=[tag])

    anna = token_for(service, "anna", ["cases:applicants:all"])
    for case_id, headers in ((hers, olga), (other, ivan), (elsewhere, anna)):
        await eventually(
            lambda c=case_id, h=headers: _sees(service, f"/cases/{c}/activities", h),
            timeout_s=20,
        )
    assert await listed(service, olga, assignee=tag) == [on_hers["id"], for_olga["id"]]
    assert await listed(service, ivan, assignee=tag) == [on_hers["id"], on_other["id"]]
    assert await listed(service, nina, assignee=tag) == []
    assert await listed(service, assignee=tag) == [
        a["id"] for a in (on_hers, on_other, on_elsewhere, for_olga, for_nobody)
    ]
    assert await listed(service, olga, assignee="olga") == [for_olga["id"]]

    for path in (f"/activities/{on_other['id']}", f"/cases/{other}/activities"):
        assert (await service.client.get(path, headers=olga)).status_code == 403
    assert (
        await service.client.get(f"/activities/{for_nobody['id']}", headers=olga)
    ).status_code == 403
    assert (
        await service.client.get(f"/activities/{for_olga['id']}", headers=olga)
    ).status_code == 200
    refused = [
        await service.client.patch(
            f"/activities/{on_other['id']}", json={"subject": "x"}, headers=olga
        ),
        await service.client.post(f"/activities/{on_other['id']}/cancel", headers=olga),
        await service.client.post(f"/activities/{on_other['id']}/complete", headers=olga),
        await service.client.post(
            "/activities", json={"type": "email", "case_id": str(other)}, headers=olga
        ),
    ]
    assert [r.status_code for r in refused] == [403] * 4
    # The case is handed to Olga: its activities become hers to see.
    await service.deliver(topics.CASE_EVENTS, case_changed(other, assignee="olga", version=3))
    await eventually(lambda: _sees(service, f"/cases/{other}/activities", olga), timeout_s=20)
    assert on_other["id"] in await listed(service, olga, assignee=tag)


async def _sees(service, path: str, headers: dict[str, str]) -> bool:
    return (await service.client.get(path, headers=headers)).status_code == 200
