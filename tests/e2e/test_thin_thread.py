"""End to end: the five services as separate processes, started the way ``make up`` starts
them, on a real PostgreSQL and a real broker, with the SMTP sink. A web form post must lead to
exactly one case, its timeline, and exactly one acknowledgement email, logged on the case."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import date, datetime, timedelta

import httpx

from casestream.testing.plugin import eventually

from .conftest import STAFF, emails_about, url


async def test_a_web_form_post_leads_to_one_case_its_timeline_and_one_email(stack):
    subject = f"Help with {uuid.uuid4().hex[:6]}"
    form_url = f"{url(stack, 'intake-svc')}/f/contact"
    async with httpx.AsyncClient(timeout=30) as client:
        # As a browser would: the page first (its signed token and per-render key), then a
        # post a person's reading time later.
        page = (await client.get(form_url)).text
        hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
        assert {"_token", "_idempotency_key"} <= set(hidden)
        await asyncio.sleep(3.2)
        posted = await client.post(
            form_url,
            data={
                **hidden,
                "first_name": "Ada",
                "last_name": "Lovelace",
                "email": "ada@example.org",
                "subject": subject,
                "message": "Hi",
            },
        )
        assert posted.status_code == 303, posted.text

        mails = await eventually(lambda: emails_about(stack, subject), timeout_s=60)
        await asyncio.sleep(3)  # anything doubled would have arrived by now
        mails = await emails_about(stack, subject)
        assert len(mails) == 1
        assert mails[0]["to"] == ["ada@example.org"]
        sink = f"http://127.0.0.1:{stack.config.smtp_http_port}"
        mail = (await client.get(f"{sink}/messages/{mails[0]['id']}")).json()
        assert "Dear Ada," in mail["text"]

        cases = (
            await client.get(
                f"{url(stack, 'case-svc')}/cases", params={"q": subject}, headers=STAFF
            )
        ).json()["items"]
        assert len(cases) == 1
        case = cases[0]
        assert case["subject"] == subject and case["clients"][0]["email"] == "ada@example.org"

        async def timeline_with_email():
            page = (
                await client.get(
                    f"{url(stack, 'activity-svc')}/cases/{case['id']}/activities", headers=STAFF
                )
            ).json()["items"]
            types = {a["type"] for a in page}
            return page if {"email", "web_form"} <= types else None

        timeline = await eventually(timeline_with_email, timeout_s=30)
        by_type = {a["type"]: a for a in timeline}
        assert sorted(by_type) == ["email", "follow_up_call", "open_case", "web_form"]
        assert len(timeline) == 4
        assert by_type["web_form"]["subject"] == "Web form: contact"
        assert by_type["open_case"]["status"] == "completed"
        follow_up = by_type["follow_up_call"]
        assert follow_up["status"] == "scheduled"
        due = datetime.fromisoformat(follow_up["due_at"]).date()
        assert due == date.fromisoformat(case["start_date"]) + timedelta(days=7)
        assert by_type["email"]["status"] == "completed"
        assert subject in by_type["email"]["subject"]


async def test_a_json_post_reports_the_case_it_became(stack):
    subject = f"JSON question {uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(timeout=30) as client:
        posted = await client.post(
            f"{url(stack, 'intake-svc')}/f/contact",
            json={
                "first_name": "Grace",
                "last_name": "Hopper",
                "email": "Grace@Example.org",
                "subject": subject,
                "message": "Hello",
            },
            headers={"Idempotency-Key": subject},
        )
        assert posted.status_code == 202, posted.text
        status_url = posted.json()["status_url"]
        if status_url.startswith("/"):
            status_url = url(stack, "intake-svc") + status_url

        async def opened():
            status = (await client.get(status_url)).json()
            return status if status["status"] == "case_opened" else None

        status = await eventually(opened, timeout_s=60)
        case = (
            await client.get(f"{url(stack, 'case-svc')}/cases/{status['case_id']}", headers=STAFF)
        ).json()
        assert case["subject"] == subject
        await eventually(lambda: emails_about(stack, subject), timeout_s=60)
