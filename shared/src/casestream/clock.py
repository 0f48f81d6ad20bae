"""The time timers are compared with. Production reads the system clock; tests move a
manual clock forward to see a 7-day delay (or a validity date) come due without waiting."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def on_change(self, callback: Callable[[], None]) -> None:
        """The system clock only moves forward by itself: nothing to tell."""


class ManualClock:
    """Stands still until moved; moving it wakes whoever listens (the timer worker)."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> datetime:
        return self._now

    def advance(self, by: timedelta) -> None:
        self._now += by
        for listener in self._listeners:
            listener()

    def on_change(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)


Clock = SystemClock | ManualClock
