"""Load generator: post N web forms at each concurrency C (rising) to a running stack and
report accepted/s, accept latency, end to end from post to case opened (the submission's own
received and outcome times) and to the email in the SMTP sink. Every submission must be
accounted for: N case_opened submissions, N cases and N emails per run.

All posts come from one address, so start the stack with the per-client limit raised:

    INTAKE_SVC_RATE_PER_CLIENT_PER_MINUTE=1000000 make up
    uv run python bench/form_load.py -n 300 -c 1,5,20
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


async def submission_outcomes(
    intake: str, token: str, run: str, n: int, timeout_s: float
) -> list[dict]:
    """This run's submissions as staff see them, once all N have an outcome (or time is up)."""
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=30, headers=headers) as client:
        while True:
            ours, cursor = [], None
            while True:
                params = {"form": "contact", "limit": 500, **({"cursor": cursor} if cursor else {})}
                page = (await client.get(f"{intake}/submissions", params=params)).json()
                ours += [
                    s for s in page["items"] if (s.get("idempotency_key") or "").startswith(run)
                ]
                cursor = page["next_cursor"]
                if not cursor:
                    break
            settled = [s for s in ours if s["status"] != "received"]
            if len(settled) >= n or time.monotonic() > deadline:
                return ours
            await asyncio.sleep(1)


async def one_run(args: argparse.Namespace, c: int) -> None:
    run = uuid.uuid4().hex[:8]
    sent_at, accept, elapsed = await post_forms(args.intake, args.n, c, run)
    print(
        f"\n== concurrency {c}: posted {args.n} forms in {elapsed:.2f}s: "
        f"{args.n / elapsed:.1f} accepted/s"
    )
    print(
        f"accept latency: p50 {pct(accept, 50) * 1000:.1f} ms, p99 {pct(accept, 99) * 1000:.1f} ms, "
        f"mean {statistics.fmean(accept) * 1000:.1f} ms"
    )
    submissions = await submission_outcomes(args.intake, args.token, run, args.n, args.timeout)
    opened = [s for s in submissions if s["status"] == "case_opened"]
    to_case = [
        (
            datetime.fromisoformat(s["updated_at"]) - datetime.fromisoformat(s["received_at"])
        ).total_seconds()
        for s in opened
    ]
    statuses = statistics.multimode([s["status"] for s in submissions]) if submissions else []
    print(
        f"post -> case opened: p50 {pct(to_case, 50) * 1000:.0f} ms, "
        f"p99 {pct(to_case, 99) * 1000:.0f} ms (submissions: {len(submissions)}, "
        f"case_opened {len(opened)}, most common status {statuses})"
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
        f"accounted for: submissions {len(submissions)}, case_opened {len(opened)}, "
        f"cases {cases}, emails {emails} (each expected {args.n})"
    )
    if not len(submissions) == len(opened) == cases == emails == len(received) == args.n:
        raise SystemExit("MISMATCH: not exactly one submission, case and email per form")
    print("OK: exactly one submission, one case and one email per form")


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=200, help="forms to post")
    parser.add_argument("-c", default="1,5,20", help="concurrent posters, rising: 1,5,20")
    parser.add_argument("--intake", default="http://127.0.0.1:8050")
    parser.add_argument("--case-api", default="http://127.0.0.1:8010")
    parser.add_argument("--sink", default="http://127.0.0.1:8025")
    parser.add_argument("--token", default="dev-admin")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for outcomes")
    args = parser.parse_args()
    for c in [int(x) for x in args.c.split(",")]:
        await one_run(args, c)


if __name__ == "__main__":
    asyncio.run(main())
