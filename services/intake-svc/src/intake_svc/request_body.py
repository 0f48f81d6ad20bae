"""Reading a public form post: size limit first, then the body in any of the three encodings,
turned into lists of raw values per name."""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException, Request
from starlette.datastructures import UploadFile
from starlette.types import Message

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def wants_json(request: Request) -> bool:
    """Answer in JSON for JSON posts, and for form posts from scripts that ask for JSON."""
    if content_type(request) == "application/json":
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def refuse_declared_oversize(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, or 413 as soon as more than ``limit`` bytes have arrived (whatever the
    headers said)."""
    received = bytearray()
    async for chunk in request.stream():
        received.extend(chunk)
        if len(received) > limit:
            raise _too_large(limit)
    return bytes(received)


async def parse_fields(request: Request, body: bytes) -> dict[str, list[Any]]:
    kind = content_type(request)
    if kind == "application/json":
        return _json_fields(body)
    if kind in FORM_TYPES:
        return await _form_fields(request, body)
    raise HTTPException(415, f"send application/json, {FORM_TYPES[0]} or {FORM_TYPES[1]}")


def _json_fields(body: bytes) -> dict[str, list[Any]]:
    try:
        document = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as error:
        raise HTTPException(
            422, [{"loc": ["body"], "msg": f"invalid JSON: {error}", "type": "json_invalid"}]
        ) from None
    if not isinstance(document, dict):
        raise HTTPException(
            422, [{"loc": ["body"], "msg": "send a JSON object", "type": "model_attributes_type"}]
        )
    return {
        name: (value if isinstance(value, list) else [value]) for name, value in document.items()
    }


async def _form_fields(request: Request, body: bytes) -> dict[str, list[Any]]:
    # The stream is spent: replay the bytes already read to Starlette's form parser.
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    form = await Request(request.scope, replay).form()
    fields: dict[str, list[Any]] = {}
    for name, value in form.multi_items():
        if not isinstance(value, UploadFile):  # none of our field types takes a file
            fields.setdefault(name, []).append(value)
    await form.close()
    return fields


def _too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"the body must not exceed {limit} bytes")
