"""The staff console in a real browser (Debian's headless Chromium, driven by Playwright): a
caseworker signs in, sees their instance's dashboard, takes a case from the pool, finds it
under My cases, completes its follow-up call with a next activity due in two days, closes it
with an outcome, finds it in the archive and signs out, after which Back shows nothing. A
second user whose token covers only their own cases sees that case nowhere.

``CASESTREAM_SCREENSHOTS=docs/screenshots`` keeps the dashboard and case page shots there
(the README shows them)."""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, async_playwright, expect

from casestream.testing.plugin import eventually

from .conftest import CONSOLE_PASSWORD, STAFF, url
from .test_browser_form import CHROMIUM, FLAGS

AXE = Axe()

if not os.path.exists(CHROMIUM) and not os.environ.get("CI"):
    pytest.skip("Debian's chromium is not installed (.ci/run installs it)", allow_module_level=True)


@pytest.fixture
async def browser():
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


async def pool_case(stack, subject: str) -> dict:
    """A case in the pool (nobody's), with its standard timeline's follow-up call scheduled."""
    async with httpx.AsyncClient(headers=STAFF, timeout=30) as api:
        opened = await api.post(
            f"{url(stack, 'case-svc')}/cases",
            json={
                "case_type": "general_enquiry",
                "subject": subject,
                "client": {"first_name": "Rosa", "last_name": "Parks", "email": "rosa@example.org"},
            },
        )
        assert opened.status_code == 201, opened.text
        case = opened.json()
        assert case["assignee"] is None

        async def follow_up_call():
            answer = await api.get(f"{url(stack, 'activity-svc')}/cases/{case['id']}/activities")
            calls = [a for a in answer.json()["items"] if a["type"] == "follow_up_call"]
            return calls[0] if calls else None

        case["call"] = await eventually(follow_up_call, timeout_s=30)
    return case


async def sign_in(page: Page, console: str, user: str) -> None:
    await page.goto(console)
    await expect(page).to_have_title(re.compile("^Sign in"))
    await page.get_by_label("User name").fill(user)
    await page.get_by_label("Password").fill(CONSOLE_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()


async def accessible(page: Page) -> None:
    """axe-core's rules (WCAG 2.x A and AA, best practices) find nothing on the page."""
    results = await AXE.run(page)
    assert results.violations_count == 0, results.generate_report()


async def fits_a_phone(page: Page) -> None:
    """At a phone's width the page needs no sideways scrolling."""
    await page.set_viewport_size({"width": 390, "height": 844})
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    await page.set_viewport_size({"width": 1200, "height": 900})
    assert overflow <= 0, f"{overflow}px wider than a phone"


async def shoot(page: Page, tmp_path: Path, name: str) -> None:
    folder = Path(os.environ.get("CASESTREAM_SCREENSHOTS") or tmp_path)
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    await page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


async def test_a_caseworker_works_a_case_from_the_pool_to_the_archive(stack, browser, tmp_path):
    console = url(stack, "console-svc")
    subject = f"Leaking roof {uuid.uuid4().hex[:6]}"
    case = await pool_case(stack, subject)
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    page = await context.new_page()

    await page.goto(console)
    await accessible(page)
    await expect(page.get_by_label("User name")).to_be_focused()  # type at once
    await sign_in(page, console, "casey")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Cases")  # the dashboard
    await accessible(page)
    await page.keyboard.press("Tab")  # the keyboard's first stop skips to the content
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    main = page.locator("main")
    await expect(main.get_by_role("link", name=re.compile("available"))).to_be_visible()

    # The pool: take the case; it is then under My cases.
    await page.get_by_role("navigation", name="Cases").get_by_role("link", name="Available").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Available cases")
    await accessible(page)
    await page.get_by_role("button", name=f"Take {subject}").click()
    await expect(page.get_by_role("status")).to_be_visible()
    await page.get_by_role("navigation", name="Cases").get_by_role("link", name="Dashboard").click()
    await expect(main.get_by_role("link", name=re.compile("my open cases"))).to_contain_text("1")
    await shoot(page, tmp_path, "dashboard")
    await fits_a_phone(page)
    await page.get_by_role("navigation", name="Cases").get_by_role("link", name="My cases").click()
    await page.get_by_role("link", name=subject).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(subject)
    await accessible(page)
    await fits_a_phone(page)

    # Process action: complete the follow-up call, with a next call due in two days.
    due = date.today() + timedelta(days=2)
    call = page.locator(
        "li", has=page.locator(f"form[action='/activities/{case['call']['id']}/complete']")
    )
    await call.locator("summary").click()
    await call.get_by_label("Outcome").fill("Spoke to Rosa: roofer booked")
    await call.get_by_label("Type").select_option("follow_up_call")
    await call.get_by_label("Subject").fill("Check the roofer came")
    await call.get_by_label("Due date").fill(due.isoformat())
    await call.get_by_role("button", name="Complete").click()
    await expect(page.get_by_role("status")).to_be_visible()
    await expect(page.get_by_text("Check the roofer came").first).to_be_visible()
    await shoot(page, tmp_path, "case")

    async with httpx.AsyncClient(headers=STAFF, timeout=30) as api:
        answer = await api.get(f"{url(stack, 'activity-svc')}/cases/{case['id']}/activities")
        found = {a["subject"]: a for a in answer.json()["items"]}
        assert found[case["call"]["subject"]]["status"] == "completed"
        assert found[case["call"]["subject"]]["outcome"] == "Spoke to Rosa: roofer booked"
        nxt = found["Check the roofer came"]
        assert nxt["status"] == "scheduled"
        assert datetime.fromisoformat(nxt["due_at"]).astimezone(UTC).date() == due

    # Close it with an outcome; it is then in the archive.
    await page.locator("summary", has_text="Close the case").click()
    await page.get_by_label("Closed as").select_option("resolved")
    await page.get_by_label("Outcome", exact=True).last.fill("Roof repaired")
    await page.get_by_role("button", name="Close", exact=True).click()
    await expect(page.get_by_role("status")).to_be_visible()
    async with httpx.AsyncClient(headers=STAFF, timeout=30) as api:
        closed = (await api.get(f"{url(stack, 'case-svc')}/cases/{case['id']}")).json()
    assert (closed["active"], closed["outcome"], closed["assignee"]) == (
        False,
        "Roof repaired",
        "casey",
    )
    await page.get_by_role("navigation", name="Cases").get_by_role("link", name="Archive").click()
    await expect(page.get_by_role("link", name=subject)).to_be_visible()

    # Signing out; Back asks the console again and shows the sign-in, not the case list.
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_text("You have signed out.")).to_be_visible()
    await page.go_back()
    await expect(page).to_have_title(re.compile("^Sign in"))
    await expect(page.get_by_text(subject)).to_have_count(0)
    await context.close()

    # Olive may see only her own cases: casey's is nowhere for her.
    context = await browser.new_context()
    page = await context.new_page()
    await sign_in(page, console, "olive")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Cases")
    for view in ("mine", "available", "all", "archive"):
        await page.goto(f"{console}/i/cases/cases?view={view}")
        await expect(page.get_by_role("heading", level=1)).to_be_visible()
        await expect(page.get_by_text(subject)).to_have_count(0)
    await page.goto(f"{console}/i/cases/cases?view=search&q={subject.split()[-1]}&active=all")
    await expect(page.get_by_text("No cases.")).to_be_visible()
    answer = await page.goto(f"{console}/cases/{case['id']}")
    assert answer is not None and answer.status == 403
    await expect(page.get_by_text(subject)).to_have_count(0)
    await page.goto(f"{console}/contacts/{closed['clients'][0]['id']}")
    await expect(page.get_by_text(subject)).to_have_count(0)
    await context.close()
