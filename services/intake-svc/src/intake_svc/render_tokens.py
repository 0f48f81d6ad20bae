"""Signed render tokens: each rendered page carries ``<render time in ms>.<signature>``, an
HMAC-SHA256 over the form's slug, that time and the page's idempotency key. A post proves
with it that it came from a page we rendered (for this form, with this key) and when, which
nobody can forge without the secret: the minimum-time check rests on it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

# A clock a little ahead on another replica is no forgery.
CLOCK_SKEW_S = 5.0


@dataclass(frozen=True)
class TokenCheck:
    """``rendered_at`` (epoch seconds) for a good token; else ``problem`` says what is wrong."""

    rendered_at: float | None = None
    problem: str | None = None


def sign(secret: str, slug: str, key: str, rendered_at: float | None = None) -> str:
    millis = int((time.time() if rendered_at is None else rendered_at) * 1000)
    return f"{millis}.{_signature(secret, slug, key, millis)}"


def check_token(
    secret: str, slug: str, key: str, token: str, *, max_age_s: float, now: float | None = None
) -> TokenCheck:
    if not token:
        return TokenCheck(problem="missing")
    millis_text, _, signature = token.partition(".")
    if not millis_text.isdigit() or len(millis_text) > 15:
        return TokenCheck(problem="forged")
    millis = int(millis_text)
    if not hmac.compare_digest(signature, _signature(secret, slug, key, millis)):
        return TokenCheck(problem="forged")
    now = time.time() if now is None else now
    rendered_at = millis / 1000
    if rendered_at > now + CLOCK_SKEW_S:
        return TokenCheck(problem="forged")
    if now - rendered_at > max_age_s:
        return TokenCheck(problem="expired")
    return TokenCheck(rendered_at=rendered_at)


def _signature(secret: str, slug: str, key: str, millis: int) -> str:
    # NUL separators: no slug/key pair can be shifted into another with the same bytes.
    message = f"{slug}\0{millis}\0{key}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
