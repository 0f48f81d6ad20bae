"""Benchmark: the staff console's pages on case_queries' 200,000 cases (issue 14: every page
rendered in at most 100 ms at the 95th percentile).

Loads a scratch database for each service (see ``console_services``: case_queries' cases,
sales_pipeline's opportunities, activity-svc's activities of those cases, emails, the demo
configuration and more), serves case-, activity-, automation-, notify- and intake-svc each in
a process of its own over TCP (uvicorn, no broker), and runs the console in this process on
its own database with two local users (``cases:*:all``): ``user_4``, who holds a fiftieth of
the cases and thousands of activities, and one with 60 activities. The services verify their
tokens with the public key of a key pair made here. Each user signs in once; then each page
is asked for (after warm-ups) as a browser would, over ASGI, and the bench prints per page:

- wall time p50/p95/p99 (ms), and PASS/FAIL against 100 ms p95;
- CPU per page (ms, means): the console (this process's ``time.process_time``: its handlers,
  templates, session look-up, its HTTP client to the services, and the in-process client's
  side of ASGI, which the ``floor`` row shows on its own), case-svc, activity-svc, the other
  three services together (``/proc``), and the PostgreSQL backends of the bench's databases
  (parallel query workers not counted);
- the page's size; with ``--calls``, under each page the service calls it made, how many
  per page and how long each took as the console waited for it.

    uv run python bench/console_pages.py                        # 200,000 cases, 50 runs
    uv run python bench/console_pages.py --cases 20000 --runs 20
    uv run python bench/console_pages.py --keep                 # then --reuse <run>
    uv run python bench/console_pages.py --reuse bench_console_1a2b3c4d --only my-work --calls
    uv run python bench/console_pages.py --reuse bench_console_1a2b3c4d --profile "case page"
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import re
import time
import uuid
from dataclasses import dataclass, field
from html import unescape
from typing import Any

import asyncpg
import httpx
import sqlalchemy as sa
from argon2 import PasswordHasher
from console_services import (
    DATABASES,
    LIGHT_USER,
    Picked,
    backend_pids,
    cpu_ms,
    databases,
    load_all,
    pick,
    serving,
    set_up,
    used_between,
    workload,
)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from harness import add_database_arguments, bench_parser, pct

from casestream.logging import configure_logging
from casestream.service import _tune_garbage_collector
from console_svc.config import LocalUser, Settings
from console_svc.main import create_app

BUDGET_MS = 100.0
# case_queries assigns case n to user_<n % 50> unless n % 10 < 4: user_4 holds one in fifty.
BENCH_USER = "user_4"
PASSWORD = "bench-" + uuid.uuid4().hex
NEXT_PAGE = re.compile(r'href="\?([^"]*cursor=[^"]*)" rel="next"')
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class PageRun:
    label: str
    path: str
    expect: list[str] = field(default_factory=list)  # what the page must show
    user: str = BENCH_USER  # whose session asks


@dataclass
class Figures:
    walls: list[float]  # ms, one per GET
    console_cpu: float  # ms per page, means
    services_cpu: dict[str, float]
    postgres_cpu: float
    size: int  # bytes of the last answer
    calls: dict[str, list[float]]  # "service path" -> ms of each call the runs made


@dataclass
class Watch:
    """CPU used so far by the service processes (by service) and by the PostgreSQL backends
    of the bench's databases (parallel query workers come and go: not counted)."""

    server: str
    pids: dict[str, int]
    database_names: list[str]

    async def snapshot(self) -> tuple[dict[str, float], dict[int, float]]:
        backends = cpu_ms(await backend_pids(self.server, self.database_names))
        used = cpu_ms(list(self.pids.values()))
        return {s: used.get(pid, 0.0) for s, pid in self.pids.items()}, backends


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class CallLog:
    """Times each call the console makes to a service (its HTTP client's ``request``),
    under the service's name and the path with ids as ``{id}``."""

    def __init__(self, app: Any) -> None:
        self.calls: dict[str, list[float]] = {}
        client, names = app.state.api.client, {u: s for s, u in app.state.api.urls.items()}
        send = client.request

        async def timed(method: str, url: str, **kw: Any) -> httpx.Response:
            started = time.perf_counter()
            try:
                return await send(method, url, **kw)
            finally:
                base, path = url[: url.index("/", 8)], url[url.index("/", 8) :]
                key = f"{names.get(base, base)} {method} {UUID.sub('{id}', path)}"
                self.calls.setdefault(key, []).append((time.perf_counter() - started) * 1000)

        client.request = timed

    def take(self) -> dict[str, list[float]]:
        calls, self.calls = self.calls, {}
        return calls


def pages(picked: Picked, ids: dict[str, str], surname: str) -> list[PageRun]:
    listed = ['href="/cases/']
    return [
        # No page: what the in-process client and the app's middleware cost on their own.
        PageRun("floor: GET /healthz", "/healthz", ['"ok"']),
        PageRun("dashboard /i/cases", "/i/cases", ["Type 0"]),
        PageRun("cases view=mine", "/i/cases/cases?view=mine", listed),
        PageRun("cases view=available", "/i/cases/cases?view=available", listed),
        PageRun("cases view=all", "/i/cases/cases?view=all", listed),
        PageRun("cases view=all, page 2", "", listed),  # its path: page 1's next link
        PageRun("cases view=archive", "/i/cases/cases?view=archive", listed),
        PageRun("search q=boiler", "/i/cases/cases?view=search&q=boiler", listed),
        PageRun(f"search q={surname}", f"/i/cases/cases?view=search&q={surname}", listed),
        PageRun(
            "case page",
            f"/cases/{picked.case_id}",
            [picked.case_subject, "Call the client back", "About your case, message 1"],
        ),
        PageRun("contact page", f"/contacts/{picked.contact_id}", [picked.contact_name]),
        PageRun("my-work", "/my-work", listed),
        PageRun("my-work?overdue=true", "/my-work?overdue=true", listed),
        PageRun("my-work, 60 activities", "/my-work", ["Call back 16"], LIGHT_USER),
        PageRun("my-work?overdue, 60 activities", "/my-work?overdue=true", listed, LIGHT_USER),
        PageRun("new case form", "/i/cases/cases/new", ['name="csrf"']),
        PageRun("pipeline /i/sales", "/i/sales/pipeline", ["Negotiation"]),
        PageRun("configuration", "/configuration", ["Bench rule 00", "bench_00"]),
        PageRun("configuration/forms", "/configuration/forms", ["Bench form 00"]),
        PageRun("configuration/rules", "/configuration/rules", ["Bench rule 00"]),
        PageRun("configuration/templates", "/configuration/templates", ["bench_00"]),
        PageRun("configuration/rules/<id>", f"/configuration/rules/{ids['rule']}", []),
        PageRun(
            "configuration/templates/<name>",
            f"/configuration/templates/{ids['template']}",
            ["We received your message"],
        ),
    ]


def key_pair() -> tuple[str, str]:
    """(private PEM, public PEM) of a fresh EC P-256 key: the console signs, services verify."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private.decode(), public.decode()


def console_settings(database_url: str, service_urls: dict[str, str], signing_key: str) -> Any:
    password_hash = PasswordHasher().hash(PASSWORD)
    users = {
        name: LocalUser(password_hash=password_hash, rights=["cases:*:all"], name=name)
        for name in (BENCH_USER, LIGHT_USER)
    }
    return Settings(
        database_url=database_url,
        service_urls=service_urls,
        users=users,
        signing_key=signing_key,
        # The session outlives the run: no token renewal lands in one page's figures.
        access_token_ttl_s=8 * 3600,
        cookie_secure=False,  # plain http://console.bench
        log_json=False,
        log_level="WARNING",
    )


async def sign_in(client: httpx.AsyncClient, user: str) -> None:
    form = await client.get("/sign-in")
    found = CSRF.search(form.text)
    assert found, "the sign-in page has no form token"
    data = {"username": user, "password": PASSWORD, "csrf": found.group(1), "next": "/"}
    answer = await client.post("/sign-in", data=data)
    if answer.status_code != 303 or "console_session" not in client.cookies:
        raise RuntimeError(f"sign-in failed: {answer.status_code} {answer.text[:500]}")


def problem_with(page: PageRun, response: httpx.Response) -> str | None:
    """Why the answer is not the page it should be (None: it is)."""
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {_words(response.text)[:200]}"
    text = unescape(response.text)
    missing = [e for e in page.expect if e not in text]
    return f"shows no {missing}" if missing else None


def _words(html: str) -> str:
    main = html.split("<main", 1)[-1]
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", main)).split())


async def time_page(
    client: httpx.AsyncClient, page: PageRun, args: argparse.Namespace, watch: Watch, log: CallLog
) -> Figures | str:
    """The page's figures over ``args.runs`` GETs after ``args.warmup`` ones, or what was
    wrong with it."""
    for _ in range(args.warmup):
        response = await client.get(page.path)
        if problem := problem_with(page, response):
            return problem
    services_before, postgres_before = await watch.snapshot()
    log.take()
    walls, cpu = [], 0.0
    for _ in range(args.runs):
        started, cpu_started = time.perf_counter(), time.process_time()
        response = await client.get(page.path)
        cpu += time.process_time() - cpu_started
        walls.append((time.perf_counter() - started) * 1000)
        if problem := problem_with(page, response):
            return problem
    calls = log.take()
    services_after, postgres_after = await watch.snapshot()
    return Figures(
        walls,
        cpu * 1000 / args.runs,
        {s: (services_after[s] - services_before[s]) / args.runs for s in services_after},
        used_between(postgres_before, postgres_after) / args.runs,
        len(response.content),
        calls,
    )


HEADER = (
    f"{'page':32} {'p50':>6} {'p95':>6} {'p99':>6}  {'console':>7} {'case':>6} {'activ.':>6} "
    f"{'others':>6} {'pg':>6}  {'KB':>5}  verdict"
)
OTHERS = ("automation-svc", "notify-svc", "intake-svc")


def row(label: str, figures: Figures | str) -> tuple[str, bool]:
    if isinstance(figures, str):
        return f"{label:32} FAILED: {figures}", False
    walls, used = figures.walls, figures.services_cpu
    p95 = pct(walls, 95)
    ok = p95 <= BUDGET_MS
    return (
        f"{label:32} {pct(walls, 50):6.1f} {p95:6.1f} {pct(walls, 99):6.1f}  "
        f"{figures.console_cpu:7.1f} {used['case-svc']:6.1f} {used['activity-svc']:6.1f} "
        f"{sum(used[s] for s in OTHERS):6.1f} {figures.postgres_cpu:6.1f}  "
        f"{figures.size / 1024:5.1f}  {'PASS' if ok else 'FAIL'}"
    ), ok


def call_lines(figures: Figures, runs: int) -> list[str]:
    """Each kind of call the page made: how many per page, and their p50 and max (ms)."""
    lines = []
    for key, times in sorted(figures.calls.items(), key=lambda kv: -sum(kv[1])):
        lines.append(
            f"    {len(times) / runs:5.1f} x {key:60} p50 {pct(times, 50):6.1f}  "
            f"max {max(times):6.1f}"
        )
    return lines


async def measure(
    clients: dict[str, httpx.AsyncClient],
    runs: list[PageRun],
    args: argparse.Namespace,
    watch: Watch,
    log: CallLog,
) -> bool:
    print(
        f"\n{args.runs} runs a page after {args.warmup} warm-ups. Wall ms; CPU ms per page "
        "(means): the console, case-svc, activity-svc, the three others, PostgreSQL"
    )
    print(HEADER)
    passed = True
    for page in runs:
        if args.only and args.only not in page.label:
            continue
        client = clients[page.user]
        if not page.path:  # page 2 of the list above it: the link page 1 shows
            first = await client.get("/i/cases/cases?view=all")
            found = NEXT_PAGE.search(first.text)
            page.path = "/i/cases/cases?" + unescape(found.group(1)) if found else ""
            if not page.path:
                print(f"{page.label:32} FAILED: page 1 has no next page")
                passed = False
                continue
        figures = await time_page(client, page, args, watch, log)
        line, ok = row(page.label, figures)
        print(line, flush=True)
        if args.calls and isinstance(figures, Figures) and figures.calls:
            print("\n".join(call_lines(figures, args.runs)), flush=True)
        passed &= ok
        if args.profile and args.profile in page.label:
            await profile(client, page, args.runs)
    return passed


async def profile(client: httpx.AsyncClient, page: PageRun, runs: int) -> None:
    """The console's own CPU on this page, by function (cProfile: slows it down)."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(runs):
        await client.get(page.path)
    profiler.disable()
    print(f"\n-- cProfile of {runs} GETs of {page.path}, by own time --")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


async def run(args: argparse.Namespace) -> bool:
    run_name = args.reuse or f"bench_console_{uuid.uuid4().hex[:8]}"
    fresh = args.reuse is None
    async with databases(args.server, run_name, fresh, keep=args.keep or not fresh) as urls:
        picked = await (
            load_all(urls, args.cases, args.opportunities) if fresh else pick(urls["case-svc"])
        )
        total = await count_cases(urls["case-svc"])
        overdue, scheduled = await workload(urls["activity-svc"], BENCH_USER)
        private, public = key_pair()
        with serving(urls, public) as served:
            ids = await set_up(served.urls, picked, BENCH_USER)
            app = create_app(console_settings(urls["console-svc"], served.urls, private))
            names = [sa.make_url(urls[s]).database for s in DATABASES]
            watch, log = Watch(args.server, served.pids, names), CallLog(app)
            try:
                async with browser(app) as busy, browser(app) as light:
                    await sign_in(busy, BENCH_USER)
                    await sign_in(light, LIGHT_USER)
                    _tune_garbage_collector()  # as ``console-svc serve`` does
                    print(
                        f"\n{total} cases; {BENCH_USER} has {scheduled} scheduled activities, "
                        f"{overdue} overdue; case {picked.case_id}, contact {picked.contact_id} "
                        f"({len(picked.contact_case_ids)} cases); {os.cpu_count()} CPUs"
                    )
                    surname = picked.contact_name.split()[-1]
                    clients = {BENCH_USER: busy, LIGHT_USER: light}
                    return await measure(clients, pages(picked, ids, surname), args, watch, log)
            finally:
                await app.state.api.close()
                await app.state.database.dispose()


def browser(app: Any) -> httpx.AsyncClient:
    """A client of the console in this process, keeping its cookies as a browser does."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://console.bench", timeout=60
    )


async def count_cases(case_url: str) -> int:
    conn = await asyncpg.connect(
        sa.make_url(case_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        return await conn.fetchval("SELECT count(*) FROM cases")
    finally:
        await conn.close()


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument(
        "--opportunities", type=int, help="sales opportunities besides (default: cases / 10)"
    )
    add_database_arguments(parser)  # --runs, --server, --keep, --reuse (a RUN_* prefix here)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--only", metavar="LABEL", help="time only the pages whose label has it")
    parser.add_argument(
        "--calls", action="store_true", help="under each page, the service calls it made"
    )
    parser.add_argument("--profile", metavar="LABEL", help="cProfile the pages whose label has it")
    args = parser.parse_args()
    if args.opportunities is None:
        args.opportunities = args.cases // 10
    configure_logging("console-svc", "WARNING", json=False)
    if not asyncio.run(run(args)):
        raise SystemExit("a page missed its budget or failed")


if __name__ == "__main__":
    main()
