"""Per-client and per-form rate limits: sliding one-minute windows kept in this process.

Each replica counts alone (no shared store to reach on the hot path): with N replicas behind
a load balancer the effective limit is up to N times the setting.
"""

from __future__ import annotations

import math
import time
from collections import deque

from starlette.requests import Request

WINDOW_S = 60.0


class SlidingWindows:
    """At most ``limit`` events per key in any ``WINDOW_S`` seconds."""

    def __init__(self, window_s: float = WINDOW_S) -> None:
        self.window_s = window_s
        self._events: dict[str, deque[float]] = {}
        self._next_sweep = 0.0

    def admit(self, key: str, limit: int, now: float | None = None) -> float | None:
        """None if admitted (and counted); else the seconds until one more would be."""
        now = time.monotonic() if now is None else now
        self._sweep(now)
        events = self._events.setdefault(key, deque())
        while events and events[0] <= now - self.window_s:
            events.popleft()
        if len(events) >= limit:
            return events[-limit] + self.window_s - now if limit > 0 else self.window_s
        events.append(now)
        return None

    def _sweep(self, now: float) -> None:
        # Forget keys that went quiet, so the table does not grow with every address seen.
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.window_s
        for key in [k for k, e in self._events.items() if not e or e[-1] <= now - self.window_s]:
            del self._events[key]


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


def client_address(request: Request, trusted_proxy_hops: int) -> str:
    """The connection's peer, or, behind ``trusted_proxy_hops`` proxies that each append to
    X-Forwarded-For, the address the outermost of them saw. Entries further left were written
    by the client and prove nothing."""
    peer = request.client.host if request.client else "unknown"
    if trusted_proxy_hops <= 0:
        return peer
    chain = [
        hop.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for hop in header.split(",")
        if hop.strip()
    ]
    if not chain:
        return peer
    return chain[max(0, len(chain) - trusted_proxy_hops)]
