"""Each service's OpenAPI document says how to authenticate (a bearer scheme: /docs gets an
Authorize button) and which errors each staff operation may answer; /docs loads nothing from
outside the service."""

from __future__ import annotations

import importlib

import httpx
import pytest

SERVICES = ["case_svc", "activity_svc", "automation_svc", "notify_svc", "intake_svc"]
PUBLIC = ("/healthz", "/readyz", "/metrics", "/asyncapi", "/f/")


def app_of(package: str):
    config = importlib.import_module(f"{package}.config")
    settings = (
        config.Settings(form_secret="x" * 16) if package == "intake_svc" else config.Settings()
    )
    return importlib.import_module(f"{package}.main").create_app(settings)


@pytest.mark.parametrize("package", SERVICES)
async def test_staff_operations_declare_the_bearer_scheme_and_their_refusals(package):
    app = app_of(package)
    document = app.openapi()
    assert document["components"]["securitySchemes"]["staff"]["scheme"] == "bearer"
    staff = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path.startswith(PUBLIC):
                assert not operation.get("security"), (method, path)
                continue
            staff += 1
            assert operation.get("security") == [{"staff": []}], (method, path)
            assert {"401", "403"} <= set(operation["responses"]), (method, path)
            if "{" in path:
                assert "404" in operation["responses"], (method, path)
    assert staff > 3
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://svc"
    ) as client:
        page = (await client.get("/docs")).text
        assert "/docs-assets/swagger-ui-bundle.js" in page
        assert "https://" not in page
        asset = await client.get("/docs-assets/swagger-ui-bundle.js")
        assert asset.status_code == 200 and len(asset.content) > 100_000
