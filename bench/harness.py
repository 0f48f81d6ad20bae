"""What the benchmarks share: their command lines, a scratch database for one service
(created, migrated, loaded, then dropped unless kept), timing HTTP queries through an app
in-process, percentiles, and for a running stack: posting web forms and finding their
emails in the SMTP sink."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import httpx
import sqlalchemy as sa

from casestream.logging import configure_logging
from casestream.persistence.migrations import upgrade
from casestream.settings import StaffToken

# The query benchmarks' tokens: the loads name their users user_0, user_1...
STAFF_TOKENS = {
    "bench-admin": StaffToken(user="user_5", rights=["admin"]),
    "bench-own": StaffToken(user="user_6", rights=["cases:*:own"]),
    "bench-instance": StaffToken(user="user_7", rights=["cases:applicants:all"]),
}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def figures(times: list[float]) -> str:
    """p50, p95 and mean, in ms, as a table row's columns."""
    return f"{pct(times, 50):8.1f} {pct(times, 95):8.1f} {statistics.mean(times):8.1f}"


def bench_parser(doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's command line, its module docstring (``doc``) as its help."""
    return argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def int_list(text: str) -> list[int]:
    """An argument such as ``1,4,16``: each value runs in turn."""
    return [int(n) for n in text.split(",")]


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the running stack (``make up``) serves, and the staff token to ask it with."""
    parser.add_argument("--intake", default="http://127.0.0.1:8050")
    parser.add_argument("--case-api", default="http://127.0.0.1:8010")
    parser.add_argument("--sink", default="http://127.0.0.1:8025")
    parser.add_argument("--token", default="dev-admin")


def run_and_check(
    parser: argparse.ArgumentParser,
    run: Callable[[argparse.Namespace], Awaitable[bool]],
    service: str,
) -> None:
    """``run`` the benchmark on the parsed command line, logging only warnings (as
    ``service``); exit failing if it returns False (a check failed)."""
    args = parser.parse_args()
    configure_logging(service, "WARNING", json=False)
    if not asyncio.run(run(args)):
        raise SystemExit("a check failed")


def report(row: str, checks: Iterable[tuple[str, bool]]) -> bool:
    """Print a table's ``row`` and, under it, each check (what, whether it held); whether all
    held."""
    checks = list(checks)
    print(row)
    print("  checks: " + "; ".join(f"{what}: {'ok' if ok else 'FAILED'}" for what, ok in checks))
    return all(ok for _, ok in checks)


def add_database_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument(
        "--server",
        default=os.environ.get(
            "CASESTREAM_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="a PostgreSQL server URL; a fresh database is created on it (and dropped)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", metavar="DATABASE", help="measure a kept database again")


async def _on_server(server: str, statement: str) -> None:
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def scratch_database(
    args: argparse.Namespace,
    prefix: str,
    migrations: Path,
    load: Callable[[str], Awaitable[None]],
) -> AsyncIterator[str]:
    """A migrated database loaded by ``load(url)``, or the kept one ``--reuse`` names; its
    URL. Dropped afterwards unless ``--keep`` or ``--reuse``."""
    server = sa.make_url(args.server)
    server_url = server.render_as_string(hide_password=False)
    name = args.reuse or f"{prefix}_{uuid.uuid4().hex[:8]}"
    url = server.set(drivername="postgresql+asyncpg", database=name).render_as_string(
        hide_password=False
    )
    try:
        if not args.reuse:
            await _on_server(server_url, f'CREATE DATABASE "{name}"')
            await asyncio.to_thread(upgrade, migrations, url)
            started = time.perf_counter()
            await load(url)
            print(f"load + VACUUM ANALYZE: {time.perf_counter() - started:.1f}s")
        yield url
    finally:
        if args.keep or args.reuse:
            print(f"kept database {name} (--reuse {name} to measure it again)")
        else:
            await _on_server(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def run_script(database: Any, script: str, params: dict[str, Any]) -> None:
    """Run ``;``-separated SQL in one transaction, each statement with the params it names."""
    async with database.transaction() as tx:
        for statement in script.split(";"):
            if statement.strip():
                used = {k: v for k, v in params.items() if f":{k}" in statement}
                await tx.session.execute(sa.text(statement), used)


async def vacuum_and_count(database: Any, counting_query: str) -> tuple[Any, ...]:
    async with database.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text("VACUUM ANALYZE"))
        return tuple((await conn.execute(sa.text(counting_query))).one())


async def measure_app(
    args: argparse.Namespace,
    prefix: str,
    migrations: Path,
    load: Callable[[str], Awaitable[None]],
    settings_cls: Callable[..., Any],
    create_app: Callable[[Any], Any],
    measure: Callable[[Any, Any, argparse.Namespace], Awaitable[None]],
) -> None:
    """``measure(app, database, args)``: the app ``create_app`` makes (its lifespan not run:
    no broker) on a scratch database loaded by ``load(url)``, knowing STAFF_TOKENS."""
    async with scratch_database(args, prefix, migrations, load) as url:
        settings = settings_cls(
            database_url=url, staff_tokens=STAFF_TOKENS, log_json=False, log_level="WARNING"
        )
        app = create_app(settings)
        try:
            await measure(app, app.state.runtime.database, args)
        finally:
            await app.state.runtime.database.dispose()


def in_process(app: Any) -> httpx.AsyncClient:
    """An HTTP client talking to ``app`` over ASGI, without its lifespan (no broker)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")


async def timed(
    client: httpx.AsyncClient,
    runs: int,
    path: str | Callable[[int], str],
    params: dict[str, Any],
    token: str,
) -> tuple[list[float], int]:
    """Times (ms) of ``runs`` GETs after three warm-up ones, and the size of the last
    answer (its items or counts). ``path`` may be a function of the run's number."""
    headers = {"Authorization": f"Bearer {token}"}
    times, size = [], 0
    for i in range(runs + 3):
        where = path(i) if callable(path) else path
        started = time.perf_counter()
        response = await client.get(where, params=params, headers=headers)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{where} {params}: {response.status_code} {response.text[:300]}")
        if i >= 3:
            times.append(elapsed)
        body = response.json()
        size = (
            len(body["items"])
            if "items" in body
            else len(body.get("counts", body.get("by_status", ())))
        )
    return times, size


Query = tuple[str, str | Callable[[int], str], dict[str, Any], str]


async def print_timings(
    client: httpx.AsyncClient, runs: int, queries: Iterable[Query], width: int
) -> None:
    """Time each query (label, path, params, token: see ``timed``) and print a table of
    them: label (``width`` wide), p50, p95, mean (ms) and the items of the last answer."""
    print(f"{'query':{width}} {'p50':>8} {'p95':>8} {'mean':>8} {'items':>6}")
    for label, path, params, token in queries:
        times, size = await timed(client, runs, path, params, token)
        print(f"{label:{width}} {figures(times)} {size:6}")


# -- a running stack (``make up``): web forms in, acknowledgement emails out ---------------


async def post_forms(
    intake: str, n: int, c: int, run: str
) -> tuple[dict[str, float], list[float], float]:
    """Post ``n`` contact forms as JSON from ``c`` concurrent posters. Returns subject -> wall
    time of its post, each post's latency (s), and the seconds all posts took.

    With aiohttp, not httpx: on a 2-core box the load generator competes with the stack for
    the CPU, and aiohttp spends about a third of httpx's per post (the posters of a real form
    are browsers elsewhere)."""
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker(client: aiohttp.ClientSession) -> None:
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
            async with client.post(
                f"{intake}/f/contact", json=body, headers={"Idempotency-Key": f"{run}-{i}"}
            ) as response:
                text = await response.text()
            latencies.append(time.perf_counter() - started)
            if response.status != 202:
                raise RuntimeError(f"post {i}: {response.status} {text[:200]}")
            sent_at[subject] = wall

    started = time.perf_counter()
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=c)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as client:
        await asyncio.gather(*(worker(client) for _ in range(c)))
    return sent_at, latencies, time.perf_counter() - started


async def emails_by_subject(
    sink: str, subjects: Collection[str], since: float | None = None
) -> dict[str, list[float]]:
    """subject -> received times of each email in the sink whose subject names one of ours
    (of those received after ``since``, a Unix time, if given: the sink lists less)."""
    return _by_subject((await _listed(sink, since)).values(), subjects)


async def _listed(sink: str, since: float | None) -> dict[str, dict[str, Any]]:
    """The sink's messages (received after ``since``, if given) by id."""
    params = {"since": datetime.fromtimestamp(since, UTC).isoformat()} if since else {}
    async with httpx.AsyncClient(timeout=30) as client:
        messages = (await client.get(f"{sink}/messages", params=params)).json()
    return {message["id"]: message for message in messages}


def _by_subject(
    messages: Iterable[dict[str, Any]], subjects: Collection[str]
) -> dict[str, list[float]]:
    received: dict[str, list[float]] = {}
    for message in messages:
        # The acknowledgement's subject ends with the case subject.
        tail = message["subject"].rsplit(": ", 1)[-1]
        if tail in subjects:
            at = datetime.fromisoformat(message["received_at"]).timestamp()
            received.setdefault(tail, []).append(at)
    return received


async def wait_for_emails(
    sink: str, sent_at: dict[str, float], timeout_s: float
) -> dict[str, list[float]]:
    """``emails_by_subject`` once every subject has an email (or time is up). Each look asks
    only for what arrived since a second before the newest seen (the sink's CPU is counted:
    listing every message each time cost it more than receiving them)."""
    deadline = time.monotonic() + timeout_s
    since = min(sent_at.values(), default=None)
    seen: dict[str, dict[str, Any]] = {}
    while True:
        seen |= await _listed(sink, since)
        received = _by_subject(seen.values(), sent_at)
        if len(received) >= len(sent_at) or time.monotonic() > deadline:
            return received
        if seen:
            newest = max(datetime.fromisoformat(m["received_at"]) for m in seen.values())
            since = newest.timestamp() - 1.0
        await asyncio.sleep(1)
