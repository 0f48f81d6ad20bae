"""The API documentation pages, served with nothing from the internet: Swagger UI's files
(version 5: OpenAPI 3.1) come from the ``fastapi-offline`` package's static folder (FastAPI's
default loads them from a CDN: blank
offline, in an air-gapped cluster or behind a strict Content-Security-Policy), and the
AsyncAPI document is rendered on the server as plain HTML (its React viewer exists only on
CDNs)."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs-assets"


def serve_swagger_ui(app: FastAPI, title: str) -> None:
    """``GET /docs`` (create the app with ``docs_url=None, redoc_url=None``)."""
    files = Path(str(fastapi_offline.__file__)).parent / "static"
    app.mount(ASSETS, StaticFiles(directory=files), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=str(app.openapi_url),
            title=f"{title}: API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
        )


def asyncapi_page(document: dict[str, Any], title: str) -> str:
    """The channels, what is sent or received on each, and each message's payload schema."""
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{escape(title)}</title>",
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:72rem;margin:0 auto;"
        "padding:1rem}pre{background:#f3f5f8;padding:.75rem;overflow-x:auto}"
        "section{border-top:1px solid #ccc;margin-top:1.5rem}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        "<p>The messages this service sends and receives (AsyncAPI "
        f"{escape(str(document.get('asyncapi', '')))}; the document itself: "
        "<a href='/asyncapi.json'>/asyncapi.json</a>).</p>",
    ]
    messages = document.get("components", {}).get("messages", {})
    schemas = document.get("components", {}).get("schemas", {})
    operations = document.get("operations", {})
    for name, channel in sorted(document.get("channels", {}).items()):
        address = channel.get("address", name)
        actions = sorted(
            {op.get("action", "") for op in operations.values() if _refers(op, name)} - {""}
        )
        parts.append(f"<section><h2>{escape(str(address))}</h2>")
        if actions:
            parts.append(f"<p>This service: {escape(', '.join(actions))}.</p>")
        if channel.get("description"):
            parts.append(f"<p>{escape(str(channel['description']))}</p>")
        for message in channel.get("messages", {}).values():
            key = str(message.get("$ref", "")).rsplit("/", 1)[-1]
            body = messages.get(key, message)
            payload = body.get("payload", {})
            schema_key = str(payload.get("$ref", "")).rsplit("/", 1)[-1]
            parts.append(f"<h3>{escape(key or 'message')}</h3>")
            shown = schemas.get(schema_key, payload)
            parts.append(f"<pre>{escape(json.dumps(shown, indent=2)[:20000])}</pre>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "".join(parts)


def _refers(operation: dict[str, Any], channel: str) -> bool:
    return str(operation.get("channel", {}).get("$ref", "")).endswith(f"/{channel}")


# The refusals every staff operation can answer, and the body they carry (FastAPI's shape).
REFUSALS = {
    "401": "No token, or one that is not valid (unknown, expired, badly signed).",
    "403": "The token lacks the right this needs, or the thing belongs to a case it may not see.",
}
CONFLICT = "The state forbids it now (taken by someone else, changed since the version sent)."
NOT_FOUND = "No such thing."


def document_refusals(app: FastAPI) -> None:
    """Each operation's OpenAPI entry lists the errors it may answer: 401 and 403 where a
    token is needed, 404 where the path names a thing, 409 for a change, with their body."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = original()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.setdefault(
            "Refusal",
            {
                "type": "object",
                "properties": {"detail": {"type": "string", "description": "why, in words"}},
                "required": ["detail"],
            },
        )
        body = {"application/json": {"schema": {"$ref": "#/components/schemas/Refusal"}}}
        for path, operations in document.get("paths", {}).items():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                wanted: dict[str, str] = {}
                if operation.get("security"):
                    wanted |= REFUSALS
                if "{" in path:
                    wanted["404"] = NOT_FOUND
                if method in ("post", "put", "patch", "delete") and operation.get("security"):
                    wanted["409"] = CONFLICT
                for status, description in wanted.items():
                    responses.setdefault(status, {"description": description, "content": body})
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
