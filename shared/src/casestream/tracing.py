"""The correlation id that follows one piece of work from the web form to the email.

It lives in a context variable (and in structlog's context, so every log line carries it),
and travels in the envelope and in the ``correlation_id`` Kafka header.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar

import structlog

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
_causation_id: ContextVar[str | None] = ContextVar("causation_id", default=None)


def current_correlation_id() -> str | None:
    return _correlation_id.get()


def current_causation_id() -> str | None:
    return _causation_id.get()


@contextlib.contextmanager
def traced(correlation_id: str | None = None, causation_id: str | None = None) -> Iterator[str]:
    """Run a block as part of the work ``correlation_id`` (a new one if None)."""
    cid = correlation_id or str(uuid.uuid4())
    tokens = (_correlation_id.set(cid), _causation_id.set(causation_id))
    with structlog.contextvars.bound_contextvars(correlation_id=cid):
        try:
            yield cid
        finally:
            _correlation_id.reset(tokens[0])
            _causation_id.reset(tokens[1])
