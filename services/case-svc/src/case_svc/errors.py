"""Refusals with the HTTP contract's shapes: 422 naming the field, 404, 409 with the reason."""

from fastapi import HTTPException


class Refused(Exception):
    """A request or command the case rules do not allow. Handlers raise it; HTTP turns it
    into a status code, a consumer into a dead letter with the reason."""

    def __init__(self, status: int, message: str, field: tuple[str, ...] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field

    def to_http(self) -> HTTPException:
        if self.status == 422:
            return HTTPException(
                422,
                [
                    {
                        "loc": list(self.field or ("body",)),
                        "msg": self.message,
                        "type": "value_error",
                    }
                ],
            )
        return HTTPException(self.status, self.message)


def invalid(field: tuple[str, ...], message: str) -> Refused:
    return Refused(422, message, field)


def not_found(what: str) -> Refused:
    return Refused(404, f"{what} not found")


def conflict(message: str) -> Refused:
    return Refused(409, message)
