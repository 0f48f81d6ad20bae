"""The SMTP sink's HTTP API: list, read and delete what it received."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, HTTPException, Response

from casestream_local.mail_store import MailStore, StoredMessage


def create_http_app(store: MailStore) -> FastAPI:
    app = FastAPI(title="casestream SMTP sink")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/messages")
    async def list_messages(
        to: str | None = None, since: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Oldest first; ``since``: only those received after that moment (ISO 8601)."""
        messages = store.messages()
        if since is not None:
            since = since if since.tzinfo else since.replace(tzinfo=UTC)
            messages = [m for m in messages if m.received_at > since]
        if to:
            messages = [m for m in messages if to.lower() in (r.lower() for r in m.rcpt_tos)]
        return [m.headline for m in messages]

    @app.get("/messages/{message_id}")
    async def get_message(message_id: str) -> dict[str, Any]:
        return _find(store, message_id).detail()

    @app.get("/messages/{message_id}/raw")
    async def get_raw(message_id: str) -> Response:
        return Response(_find(store, message_id).raw, media_type="message/rfc822")

    @app.delete("/messages")
    async def delete_messages() -> dict[str, int]:
        return {"deleted": store.clear()}

    @app.delete("/messages/{message_id}", status_code=204)
    async def delete_message(message_id: str) -> Response:
        if not store.delete(message_id):
            raise HTTPException(404, "no such message")
        return Response(status_code=204)

    return app


def _find(store: MailStore, message_id: str) -> StoredMessage:
    message = store.get(message_id)
    if message is None:
        raise HTTPException(404, "no such message")
    return message
