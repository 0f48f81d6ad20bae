"""The API documentation pages work with no network: Swagger UI at /docs and the AsyncAPI page
at /asyncapi load everything from the service itself, in headless Chromium with every request
to anywhere else refused (an air-gapped cluster, a strict proxy)."""

from __future__ import annotations

import os
import re

import pytest
from playwright.async_api import Route, async_playwright, expect

from .conftest import url
from .test_browser_form import CHROMIUM, FLAGS

if not os.path.exists(CHROMIUM) and not os.environ.get("CI"):
    pytest.skip("Debian's chromium is not installed (.ci/run installs it)", allow_module_level=True)


@pytest.fixture
async def offline_page():
    """A page whose requests anywhere but 127.0.0.1 fail; ``page.refused`` lists them."""
    refused: list[str] = []

    async def only_here(route: Route) -> None:
        if route.request.url.startswith("http://127.0.0.1:"):
            await route.continue_()
        else:
            refused.append(route.request.url)
            await route.abort()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            context = await browser.new_context()
            await context.route("**/*", only_here)
            page = await context.new_page()
            page.refused = refused  # type: ignore[attr-defined]
            yield page
        finally:
            await browser.close()


@pytest.mark.parametrize("service", ["case-svc", "intake-svc"])
async def test_swagger_ui_renders_offline(stack, offline_page, service):
    await offline_page.goto(f"{url(stack, service)}/docs")
    # Swagger UI drew the operations from /openapi.json.
    await expect(offline_page.locator(".swagger-ui .opblock").first).to_be_visible(timeout=15000)
    assert await offline_page.locator(".swagger-ui .opblock").count() > 5
    assert offline_page.refused == []


async def test_the_asyncapi_page_renders_offline(stack, offline_page):
    await offline_page.goto(f"{url(stack, 'case-svc')}/asyncapi")
    # Channels carry the stack's topic prefix.
    channel = offline_page.get_by_role("heading", name=re.compile(r"case\.events$"))
    await expect(channel).to_be_visible()
    await expect(offline_page.get_by_role("heading", level=1)).to_have_text("case-svc messages")
    assert offline_page.refused == []
