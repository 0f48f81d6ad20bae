"""Refusals with the HTTP contract's shapes: 422 naming the field, 403, 404, 409 with the
reason. They are HTTPExceptions, so a route just lets them through; a command handler turns
them into a dead letter with the same reason."""

from __future__ import annotations

from fastapi import HTTPException


class Refused(HTTPException):
    def __init__(self, status: int, message: str, field: tuple[str, ...] | None = None):
        detail: object = message
        if status == 422:
            detail = [{"loc": list(field or ("body",)), "msg": message, "type": "value_error"}]
        super().__init__(status, detail)
        self.message = message
        self.field = field

    def reason(self) -> str:
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
