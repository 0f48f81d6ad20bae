"""The demo web form in a real browser (Debian's headless Chromium, driven by Playwright):
the page works without JavaScript, a refused answer comes back as the form with the visitor's
values and a message on the field, and a good one redirects to the thank-you page and
becomes a case."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid

import httpx
import pytest
from playwright.async_api import async_playwright, expect

from casestream.testing.plugin import eventually

from .conftest import STAFF, url

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium's own background traffic is refused by a closed network; keep it quiet.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# A person takes longer than the form's minimum time between showing and sending.
READING_TIME_S = 3.5

if not os.path.exists(CHROMIUM) and not os.environ.get("CI"):
    pytest.skip("Debian's chromium is not installed (.ci/run installs it)", allow_module_level=True)


@pytest.fixture
async def page():
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=FLAGS,  # headless, in a fresh profile of its own
        )
        context = await browser.new_context(java_script_enabled=False)  # no JavaScript needed
        try:
            yield await context.new_page()
        finally:
            await browser.close()


async def test_the_form_round_trip_in_a_browser(stack, page):
    form_url = f"{url(stack, 'intake-svc')}/f/contact"
    subject = f"Streetlight {uuid.uuid4().hex[:6]}"
    await page.goto(form_url)
    await expect(page).to_have_title("Contact us")
    await page.get_by_label("First name").fill("Grace")
    await page.get_by_label("Last name").fill("Hopper")
    # The browser accepts this address; the server wants a domain with a dot.
    await page.get_by_label("Email").fill("grace@localhost")
    await page.get_by_label("Subject").fill(subject)
    await page.get_by_label("Message").fill("The light on Elm Street is out.")
    await asyncio.sleep(READING_TIME_S)
    await page.get_by_role("button", name="Send").click()

    # The form again: an error summary, the message on the field, the values kept.
    await expect(page).to_have_title("Error: Contact us")
    await expect(page.get_by_role("alert")).to_contain_text("Email")
    email = page.get_by_label("Email")
    await expect(email).to_have_attribute("aria-invalid", "true")
    await expect(email).to_have_value("grace@localhost")
    await expect(page.get_by_label("Subject")).to_have_value(subject)
    described_by = await email.get_attribute("aria-describedby")
    error = page.locator(f"#{described_by.split()[-1]}")
    await expect(error).to_contain_text("Enter an email address")

    await email.fill("grace@example.org")
    await asyncio.sleep(READING_TIME_S)
    await page.get_by_role("button", name="Send").click()
    await expect(page.get_by_role("heading", name="Thank you")).to_be_visible()

    async with httpx.AsyncClient(timeout=30) as client:

        async def opened():
            found = await client.get(
                f"{url(stack, 'case-svc')}/cases", params={"q": subject}, headers=STAFF
            )
            return found.json()["items"]

        [case] = await eventually(opened, timeout_s=60)
    assert case["subject"] == subject
    assert [c["email"] for c in case["clients"]] == ["grace@example.org"]
