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
from harness import add_stack_arguments, bench_parser, int_list, pct, post_forms, wait_for_emails


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
    parser = bench_parser(__doc__)
    parser.add_argument("-n", type=int, default=200, help="forms to post")
    parser.add_argument(
        "-c", type=int_list, default=[1, 5, 20], help="concurrent posters, rising: 1,5,20"
    )
    add_stack_arguments(parser)
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for outcomes")
    args = parser.parse_args()
    for c in args.c:
        await one_run(args, c)


if __name__ == "__main__":
    asyncio.run(main())
