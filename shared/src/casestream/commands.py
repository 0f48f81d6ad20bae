"""What a service's actions share, whether asked over HTTP or by a command message: who asks
(``Caller``), how the rules say no (``Refused``, with the HTTP contract's shapes: 422 naming
the field, 403, 404, 409 with the reason), the optimistic version check, and how a refusal
reaches a command's sender (``refusals_rejected``: the dead-letter topic, with the reason).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException
from pydantic import ValidationError

from casestream.http.auth import StaffUser
from casestream.messaging.consumption import Rejected


class Refused(HTTPException):
    """A request or command the rules do not allow. An HTTPException, so a route just lets it
    through; a command handled within ``refusals_rejected`` is dead-lettered instead."""

    def __init__(self, status: int, message: str, field: tuple[str, ...] | None = None):
        detail: object = message
        if status == 422:
            detail = [{"loc": list(field or ("body",)), "msg": message, "type": "value_error"}]
        super().__init__(status, detail)
        self.message = message
        self.field = field

    def reason(self) -> str:
        """One line for a dead letter or a log: ``409 the case is closed (data.status)``."""
        where = f" ({'.'.join(self.field)})" if self.field else ""
        return f"{self.status_code} {self.message}{where}"


def invalid(field: tuple[str, ...], message: str) -> Refused:
    return Refused(422, message, field)


def forbidden(message: str) -> Refused:
    return Refused(403, message)


def not_found(what: str) -> Refused:
    return Refused(404, f"{what} not found")


def conflict(message: str) -> Refused:
    return Refused(409, message)


@dataclass(frozen=True)
class Caller:
    """Who acts: a staff user (their rights are checked) or an internal app's command
    (``staff`` None: trusted; the rules still apply). ``actor`` is recorded as who did it."""

    actor: str | None
    staff: StaffUser | None = None


def ensure_version(what: str, version: int, expected_version: int | None) -> None:
    """409 if the caller saw an older version of ``what`` (optimistic concurrency: their
    change would overwrite one they have not seen); None expects nothing."""
    if expected_version is not None and expected_version != version:
        raise conflict(
            f"the {what} changed since version {expected_version} (it is at version "
            f"{version}): reload it and try again"
        )


@contextlib.contextmanager
def refusals_rejected(envelope: Any) -> Iterator[None]:
    """Around a command's handling: a refusal or an invalid body (pydantic names the field)
    can never succeed, so the command goes to the dead-letter topic at once, with the
    reason (``Rejected``)."""
    try:
        yield
    except Refused as refused:
        raise Rejected(f"{envelope.type} refused: {refused.reason()}") from None
    except ValidationError as error:
        raise Rejected(f"{envelope.type}: invalid command: {error}") from None
