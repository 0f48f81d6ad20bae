"""Load generator: post N web forms at concurrency C to a running stack (``make up``) and
report accepted/s, accept latency, and end-to-end latency from post to the email in the SMTP
sink. It checks that exactly N cases and N emails resulted.

    uv run python bench/form_load.py -n 500 -c 20
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from datetime import datetime

import httpx
from harness import pct


async def post_forms(
    intake: str, n: int, c: int, run: str
) -> tuple[dict[str, float], list[float], float]:
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            subject = f"bench {run} #{i}"
            body = {
                "first_name": f"Load{i}",
                "last_name": "Tester",
                "email": f"load-{run}-{i}@example.org",
                "subject": subject,
                "message": "hi",
            }
            started = time.perf_counter()
            wall = time.time()
            response = await client.post(
                f"{intake}/f/contact", json=body, headers={"Idempotency-Key": f"{run}-{i}"}
            )
            latencies.append(time.perf_counter() - started)
            if response.status_code != 202:
                raise RuntimeError(f"post {i}: {response.status_code} {response.text[:200]}")
            sent_at[subject] = wall

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(c)))
    return sent_at, latencies, time.perf_counter() - started


async def wait_for_emails(
    sink: str, sent_at: dict[str, float], timeout_s: float
) -> dict[str, list[float]]:
    """subject -> received times of each email whose subject names one of our posts."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=30) as client:
        while True:
            received: dict[str, list[float]] = {}
            for message in (await client.get(f"{sink}/messages")).json():
                for subject in _ours(message["subject"], sent_at):
                    at = datetime.fromisoformat(message["received_at"]).timestamp()
                    received.setdefault(subject, []).append(at)
            if len(received) >= len(sent_at) or time.monotonic() > deadline:
                return received
            await asyncio.sleep(0.5)


def _ours(subject: str, sent_at: dict[str, float]) -> list[str]:
    # The acknowledgement's subject ends with the case subject.
    tail = subject.rsplit(": ", 1)[-1]
    return [tail] if tail in sent_at else []


async def count_cases(case_api: str, token: str, run: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    count, cursor = 0, None
    async with httpx.AsyncClient(timeout=30, headers=headers) as client:
        while True:
            params = {"q": f"bench {run}", "limit": 500, "active": "all"}
            if cursor:
                params["cursor"] = cursor
            page = (await client.get(f"{case_api}/cases", params=params)).json()
            count += len(page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                return count


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=200, help="forms to post")
    parser.add_argument("-c", type=int, default=10, help="concurrent posters")
    parser.add_argument("--intake", default="http://127.0.0.1:8050")
    parser.add_argument("--case-api", default="http://127.0.0.1:8010")
    parser.add_argument("--sink", default="http://127.0.0.1:8025")
    parser.add_argument("--token", default="dev-admin")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for the emails")
    args = parser.parse_args()

    run = uuid.uuid4().hex[:8]
    sent_at, accept, elapsed = await post_forms(args.intake, args.n, args.c, run)
    print(
        f"posted {args.n} forms at concurrency {args.c} in {elapsed:.2f}s: "
        f"{args.n / elapsed:.1f} accepted/s"
    )
    print(
        f"accept latency: p50 {pct(accept, 50) * 1000:.1f} ms, p99 {pct(accept, 99) * 1000:.1f} ms, "
        f"mean {statistics.fmean(accept) * 1000:.1f} ms"
    )

    received = await wait_for_emails(args.sink, sent_at, args.timeout)
    e2e = [min(times) - sent_at[s] for s, times in received.items()]
    emails = sum(len(t) for t in received.values())
    print(
        f"post -> email in sink: p50 {pct(e2e, 50) * 1000:.0f} ms, p99 {pct(e2e, 99) * 1000:.0f} ms, "
        f"max {max(e2e, default=float('nan')) * 1000:.0f} ms"
    )
    cases = await count_cases(args.case_api, args.token, run)
    print(
        f"cases: {cases} (expected {args.n}); emails: {emails} (expected {args.n}); "
        f"posts with an email: {len(received)}"
    )
    if cases != args.n or emails != args.n or len(received) != args.n:
        raise SystemExit("MISMATCH: not exactly one case and one email per form")
    print("OK: exactly one case and one email per form")


if __name__ == "__main__":
    asyncio.run(main())
