"""The console's case page over HTTP, as a browser without JavaScript uses it: taking a
case (from the page and from the list), completing the follow-up call with the next one
scheduled, closing, a stale form (409), a post without the form token (403), a case outside
the user's rights (403), an email preview, and opening a case by hand. What the services
then hold is read from their APIs with the staff token."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from html import unescape
from html.parser import HTMLParser

import httpx

from casestream.testing.plugin import eventually

from .conftest import STAFF, url
from .console import form_token, signed_in


class _Forms(HTMLParser):
    """Every form of a page: its action and the values it would send as it stands."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action"), "fields": {}, "options": {}})
        elif not self.forms:
            return
        fields = self.forms[-1]["fields"] if self.forms else {}
        if tag == "input" and a.get("name"):
            if a.get("type") in ("radio", "checkbox") and "checked" not in a:
                return
            fields[a["name"]] = a.get("value") or ""
        elif tag == "select":
            self._select = a.get("name")
            self.forms[-1]["options"][self._select] = []
        elif tag == "option" and self._select:
            self.forms[-1]["options"][self._select].append(a.get("value"))
            if "selected" in a or self._select not in fields:
                fields[self._select] = a.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def form_posting_to(html: str, action: str) -> dict:
    parser = _Forms()
    parser.feed(html)
    found = [f for f in parser.forms if f["action"] == action]
    assert found, f"no form posting to {action}"
    return found[0]


def alert_of(html: str) -> str:
    found = re.search(r'<(\w+)[^>]*role="alert"[^>]*>(.*?)</\1>', html, re.S)
    assert found, "the page has no alert"
    return unescape(re.sub(r"<[^>]+>", "", found.group(2)))


def staff_api(stack, service: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url(stack, service), headers=STAFF, timeout=30)


async def a_case(stack, subject: str) -> dict:
    """A general enquiry in the pool, its standard timeline (the follow-up call) scheduled."""
    run = uuid.uuid4().hex[:6]
    body = {"case_type": "general_enquiry", "subject": subject}
    body["client"] = {"first_name": "Mina", "last_name": run, "email": f"mina-{run}@example.org"}
    async with staff_api(stack, "case-svc") as cases:
        made = await cases.post("/cases", json=body)
    assert made.status_code == 201, made.text
    case = made.json()
    await follow_up_call(stack, case["id"])
    return case


async def follow_up_call(stack, case_id: str) -> dict:
    async with staff_api(stack, "activity-svc") as activities:

        async def scheduled():
            items = (await activities.get(f"/cases/{case_id}/activities")).json()["items"]
            calls = [a for a in items if a["type"] == "follow_up_call"]
            return calls[0] if calls else None

        return await eventually(scheduled, timeout_s=30)


async def case_now(stack, case_id: str) -> dict:
    async with staff_api(stack, "case-svc") as cases:
        return (await cases.get(f"/cases/{case_id}")).json()


async def post_form(client: httpx.AsyncClient, form: dict, **values) -> httpx.Response:
    return await client.post(form["action"], data={**form["fields"], **values})


async def test_taking_a_case_from_its_page_makes_it_mine(stack):
    subject = f"Broken gate {uuid.uuid4().hex[:6]}"
    case = await a_case(stack, subject)
    async with signed_in(stack, "casey") as casey:
        page = await casey.get(f"/cases/{case['id']}")
        assert page.status_code == 200, page.text
        assert subject in page.text
        assert f'href="/contacts/{case["clients"][0]["id"]}"' in page.text
        assert "Follow up call" in page.text  # the timeline, from activity-svc
        take = form_posting_to(page.text, f"/cases/{case['id']}/take")
        assert take["fields"]["version"] == str(case["version"])
        taken = await post_form(casey, take)
        assert taken.status_code == 303
        assert taken.headers["location"].startswith(f"/cases/{case['id']}?notice=")
        after = await casey.get(taken.headers["location"])
        assert 'role="status"' in after.text and "You took the case." in after.text
        assert "Assigned to <strong>casey</strong> (you)" in after.text
        # The history says who did it.
        history = after.text.split('id="history-h"', 1)[1]
        assert re.search(r"<td>casey</td>\s*<td>assigned</td>", history)
    assert (await case_now(stack, case["id"]))["assignee"] == "casey"


async def test_the_lists_take_button_takes_the_case_and_returns_to_the_list(stack):
    subject = f"Loud dog {uuid.uuid4().hex[:6]}"
    case = await a_case(stack, subject)
    async with signed_in(stack, "casey") as casey:
        listed = await casey.get("/i/cases/cases", params={"view": "available", "q": subject})
        assert listed.status_code == 200, listed.text
        take = form_posting_to(listed.text, f"/cases/{case['id']}/take")
        back = take["fields"]["back"]
        assert back.startswith("/i/cases/cases?")
        taken = await post_form(casey, take)
        assert taken.status_code == 303
        assert taken.headers["location"].startswith(back + "&notice=")
        again = await casey.get(taken.headers["location"])
        assert f"/cases/{case['id']}/take" not in again.text  # no longer available
    assert (await case_now(stack, case["id"]))["assignee"] == "casey"


async def test_a_back_to_another_site_is_not_followed(stack):
    case = await a_case(stack, f"Pothole {uuid.uuid4().hex[:6]}")
    async with signed_in(stack, "casey") as casey:
        page = await casey.get(f"/cases/{case['id']}")
        take = form_posting_to(page.text, f"/cases/{case['id']}/take")
        taken = await post_form(casey, take, back="//evil.example/x")
        assert taken.status_code == 303
        assert taken.headers["location"].startswith(f"/cases/{case['id']}?")


async def test_completing_the_follow_up_call_schedules_the_next_one(stack):
    subject = f"Leaking roof {uuid.uuid4().hex[:6]}"
    case = await a_case(stack, subject)
    call = await follow_up_call(stack, case["id"])
    due = datetime.now(UTC).date() + timedelta(days=2)
    next_subject = f"Call again about {subject}"
    async with signed_in(stack, "casey") as casey:
        page = await casey.get(f"/cases/{case['id']}")
        complete = form_posting_to(page.text, f"/activities/{call['id']}/complete")
        assert "follow_up_call" in complete["options"]["next_type"]
        values = {"outcome": "Spoke to Mina", "next_type": "follow_up_call"}
        values["next_subject"] = next_subject

        # A next activity needs its date: said next to the field, nothing done.
        refused = await post_form(casey, complete, **values)
        assert refused.status_code == 422
        assert f'id="complete-{call["id"]}-next_due_date-error"' in refused.text
        assert "give a date" in refused.text
        assert next_subject in refused.text  # what was typed is still there

        done = await post_form(casey, complete, **values, next_due_date=due.isoformat())
        assert done.status_code == 303, done.text
        shown = await casey.get(done.headers["location"])
        assert "The next one is scheduled." in shown.text
        assert next_subject in shown.text
    async with staff_api(stack, "activity-svc") as activities:
        completed = (await activities.get(f"/activities/{call['id']}")).json()
        assert (completed["status"], completed["outcome"]) == ("completed", "Spoke to Mina")
        items = (await activities.get(f"/cases/{case['id']}/activities")).json()["items"]
    [following] = [a for a in items if a["subject"] == next_subject]
    assert following["status"] == "scheduled" and following["type"] == "follow_up_call"
    assert datetime.fromisoformat(following["due_at"]).astimezone(UTC).date() == due


async def test_an_activity_added_with_a_past_due_date_is_marked_overdue_in_words(stack):
    case = await a_case(stack, f"Cracked pavement {uuid.uuid4().hex[:6]}")
    subject = f"Visit the site {uuid.uuid4().hex[:6]}"
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    async with signed_in(stack, "casey") as casey:
        page = await casey.get(f"/cases/{case['id']}")
        add = form_posting_to(page.text, f"/cases/{case['id']}/activities")
        values = {"type": "follow_up_call", "subject": subject, "due_date": yesterday.isoformat()}
        added = await post_form(casey, add, **values, due_time="10:30")
        assert added.status_code == 303, added.text
        shown = (await casey.get(added.headers["location"])).text
    item = shown.split(subject, 1)[1].split("</li>", 1)[0]
    assert "Overdue" in item
    async with staff_api(stack, "activity-svc") as activities:
        items = (await activities.get(f"/cases/{case['id']}/activities")).json()["items"]
    [visit] = [a for a in items if a["subject"] == subject]
    assert visit["status"] == "scheduled"
    assert datetime.fromisoformat(visit["due_at"]) == datetime.combine(
        yesterday, datetime.min.time().replace(hour=10, minute=30), tzinfo=UTC
    )


async def test_an_activity_set_sent_twice_from_one_page_is_applied_once(stack):
    case = await a_case(stack, f"Flooded cellar {uuid.uuid4().hex[:6]}")

    async def calls() -> int:
        async with staff_api(stack, "activity-svc") as activities:
            items = (await activities.get(f"/cases/{case['id']}/activities")).json()["items"]
        return len([a for a in items if a["type"] == "follow_up_call"])

    before = await calls()
    async with signed_in(stack, "casey") as casey:
        page = await casey.get(f"/cases/{case['id']}")
        apply = form_posting_to(page.text, f"/cases/{case['id']}/timelines")
        for _ in range(2):
            applied = await post_form(casey, apply, activity_set="standard_timeline")
            assert applied.status_code == 303, applied.text
    assert await calls() == before + 1


async def test_closing_a_case_with_an_outcome(stack):
    case = await a_case(stack, f"Fallen tree {uuid.uuid4().hex[:6]}")
    outcome = f"Tree removed {uuid.uuid4().hex[:4]}"
    async with signed_in(stack, "casey") as casey:
        page = await casey.get(f"/cases/{case['id']}")
        close = form_posting_to(page.text, f"/cases/{case['id']}/close")
        assert close["options"]["status"] == ["resolved"]  # the type's closed statuses
        closed = await post_form(casey, close, outcome=outcome)
        assert closed.status_code == 303, closed.text
        shown = await casey.get(closed.headers["location"])
        assert "The case is closed." in shown.text and outcome in shown.text
        reopen = form_posting_to(shown.text, f"/cases/{case['id']}/reopen")
        now = await case_now(stack, case["id"])
        assert (now["active"], now["status"], now["outcome"]) == (False, "resolved", outcome)

        reopened = await post_form(casey, reopen, status="in_progress")
        assert reopened.status_code == 303, reopened.text
    now = await case_now(stack, case["id"])
    assert (now["active"], now["status"], now["outcome"]) == (True, "in_progress", None)


async def test_a_form_of_a_case_changed_meanwhile_is_refused_and_shows_it_as_it_is(stack):
    case = await a_case(stack, f"Blocked drain {uuid.uuid4().hex[:6]}")
    async with signed_in(stack, "casey") as casey:
        page = await casey.get(f"/cases/{case['id']}")
        close = form_posting_to(page.text, f"/cases/{case['id']}/close")
        async with staff_api(stack, "case-svc") as cases:
            changed = await cases.post(
                f"/cases/{case['id']}/status", json={"status": "in_progress"}
            )
            assert changed.status_code == 200, changed.text
        stale = await post_form(casey, close, outcome="Too late")
        assert stale.status_code == 409
        assert "Someone else changed this case" in alert_of(stale.text)
        assert "Status: <strong>In progress</strong>" in stale.text  # read again
        fresh = form_posting_to(stale.text, f"/cases/{case['id']}/close")
        assert fresh["fields"]["version"] == str(changed.json()["version"])
    now = await case_now(stack, case["id"])
    assert (now["active"], now["outcome"]) == (True, None)


async def test_a_post_without_the_form_token_is_refused_and_changes_nothing(stack):
    case = await a_case(stack, f"Graffiti {uuid.uuid4().hex[:6]}")
    async with signed_in(stack, "casey") as casey:
        page = await casey.get(f"/cases/{case['id']}")
        take = form_posting_to(page.text, f"/cases/{case['id']}/take")
        fields = {k: v for k, v in take["fields"].items() if k != "csrf"}
        for sent in (fields, {**fields, "csrf": "not-the-token"}):
            refused = await casey.post(take["action"], data=sent)
            assert refused.status_code == 403
            assert "not sent from your session" in alert_of(refused.text)
    assert (await case_now(stack, case["id"]))["assignee"] is None


async def test_a_user_with_own_cases_only_may_not_see_someone_elses(stack):
    case = await a_case(stack, f"Noisy neighbour {uuid.uuid4().hex[:6]}")
    async with staff_api(stack, "case-svc") as cases:
        assigned = await cases.post(f"/cases/{case['id']}/assign", json={"user": "casey"})
        assert assigned.status_code == 200, assigned.text
    async with signed_in(stack, "olive") as olive:
        page = await olive.get(f"/cases/{case['id']}")
        assert page.status_code == 403
        assert "<h1>Not allowed</h1>" in page.text
        assert case["subject"] not in page.text
        token = form_token((await olive.get("/i/cases/cases?view=mine")).text)
        data = {"csrf": token, "version": str(assigned.json()["version"])}
        taken = await olive.post(f"/cases/{case['id']}/requeue", data=data)
        assert taken.status_code == 403
    assert (await case_now(stack, case["id"]))["assignee"] == "casey"


async def test_the_email_preview_shows_the_rendered_subject_and_sends_it(stack):
    run = uuid.uuid4().hex[:6]
    template = f"console_note_{run}"
    async with staff_api(stack, "notify-svc") as notify:
        saved = await notify.put(
            f"/templates/{template}",
            json={
                "subject": "About {{ case.subject }}",
                "body_text": "Dear {{ client.first_name }}",
            },
        )
        assert saved.status_code in (200, 201), saved.text
    subject = f"Missing bin {run}"
    case = await a_case(stack, subject)
    async with signed_in(stack, "casey") as casey:
        page = await casey.get(f"/cases/{case['id']}")
        preview_form = form_posting_to(page.text, f"/cases/{case['id']}/email/preview")
        assert template in preview_form["options"]["template"]

        async def previewed():
            answer = await post_form(casey, preview_form, template=template)
            return answer if answer.status_code == 200 else None  # notify-svc knows the case

        preview = await eventually(previewed, timeout_s=30)
        rendered = re.search(r'class="preview-subject">([^<]*)<', preview.text)
        assert rendered and unescape(rendered.group(1)) == f"About {subject}"
        assert "Dear Mina" in preview.text
        send = form_posting_to(preview.text, f"/cases/{case['id']}/email")
        sent = await post_form(casey, send)
        assert sent.status_code == 303, sent.text

        async def logged():
            async with staff_api(stack, "notify-svc") as notify:
                emails = (await notify.get("/emails", params={"case_id": case["id"]})).json()
            mine = [e for e in emails["items"] if e["template"] == template]
            return mine if mine and mine[0]["status"] == "sent" else None

        [email] = await eventually(logged, timeout_s=60)
        assert email["subject"] == f"About {subject}"
        shown = await casey.get(f"/cases/{case['id']}")
        emails = shown.text.split('id="emails-h"', 1)[1]
        assert re.search(rf"<td>About {subject}</td>.*?<td>Sent</td>", emails, re.S)


async def test_opening_a_case_by_hand_and_a_refused_one(stack):
    run = uuid.uuid4().hex[:6]
    async with signed_in(stack, "casey") as casey:
        form_page = await casey.get("/i/cases/cases/new")
        assert form_page.status_code == 200, form_page.text
        form = form_posting_to(form_page.text, "/i/cases/cases/new")
        assert "general_enquiry" in form["options"]["case_type"]

        bad = await post_form(
            casey, form, subject=f"Bad {run}", first_name="Ann", email="not-an-address"
        )
        assert bad.status_code == 422
        assert 'id="email-error"' in bad.text and 'aria-invalid="true"' in bad.text
        assert f'value="Bad {run}"' in bad.text  # the values are kept
        assert "Not opened." in alert_of(bad.text)

        start = date.today() - timedelta(days=3)
        values = {"subject": f"Good {run}", "details": "By phone", "first_name": "Ann"}
        values |= {"last_name": run, "email": f"ann-{run}@example.org"}
        opened = await post_form(casey, form, **values, start_date=start.isoformat())
        assert opened.status_code == 303, opened.text
        location = opened.headers["location"]
        assert re.match(r"^/cases/[0-9a-f-]{36}\?notice=", location)
        case_id = location.split("/")[2].split("?")[0]
        assert f"Good {run}" in (await casey.get(location)).text
    case = await case_now(stack, case_id)
    assert (case["subject"], case["start_date"], case["created_by"]) == (
        f"Good {run}",
        start.isoformat(),
        "casey",
    )
    assert case["clients"][0]["email"] == f"ann-{run}@example.org"
    async with staff_api(stack, "case-svc") as cases:
        found = (await cases.get("/cases", params={"q": f"Bad {run}", "active": "all"})).json()
    assert found["items"] == []
