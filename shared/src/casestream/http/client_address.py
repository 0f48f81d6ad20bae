"""Who sent a request, for counting per client (rate limits, failed sign-ins) behind the
proxies a deployment says are there (``TRUSTED_PROXY_HOPS``)."""

from __future__ import annotations

from starlette.requests import Request


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
