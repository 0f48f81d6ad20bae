"""The services the console calls, for ``console_pages.py``: a scratch database for each
(named ``<run>_<service>``, so ``--reuse <run>`` measures kept ones again), what each holds,
and each served by uvicorn in a process of its own over TCP, without its lifespan (no
broker: the pages only read, and what the set-up writes waits in the outboxes).

What each holds:
- case-svc: ``case_queries``' cases and contacts, and ``sales_pipeline``'s opportunities in
  its ``sales`` instance and a second one, ``partners``.
- activity-svc: its read model of every case, and one activity for each row of case-svc's
  activity projection (same ids, cases, statuses and due times: all scheduled, two in five
  overdue), assigned to the case's assignee: each user holding cases has thousands; and 60 for
  ``LIGHT_USER``, 15 overdue.
- notify-svc: one email per tenth case (the emails' index at size), five on the case the
  bench opens, and its read model of the cases whose emails the pages show.
- automation-svc, intake-svc, notify-svc's templates, activity-svc's activity types: the
  demo configuration and more of the same, through the services' APIs."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import importlib
import io
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import sqlalchemy as sa
from case_queries import load as load_cases
from harness import STAFF_TOKENS, run_script, vacuum_and_count
from sales_pipeline import LOAD as OPPORTUNITIES

from casestream import devinfra
from casestream.persistence.database import Database
from casestream.persistence.migrations import upgrade
from casestream.persistence.read_models import keep_cases
from casestream_local.demo import read_demo

ADMIN = "bench-admin"  # a static admin token (harness.STAFF_TOKENS) for setting data up
# Packages of the services the console calls, by the name the console knows them by.
PACKAGES = {
    "case-svc": "case_svc",
    "activity-svc": "activity_svc",
    "automation-svc": "automation_svc",
    "notify-svc": "notify_svc",
    "intake-svc": "intake_svc",
}
DATABASES = (*PACKAGES, "console-svc")
# A user with a caseworker's usual load (the data set gives each user holding cases thousands):
# 60 scheduled activities, 15 of them overdue.
LIGHT_USER = "user_light"
# How many more rules, templates and forms than the demo has (config lists of some length).
EXTRA_CONFIG = 20


# -- databases -----------------------------------------------------------------------------


def migrations_of(service: str) -> Path:
    package = importlib.import_module(service.replace("-", "_"))
    return Path(str(package.__file__)).parent / "migrations"


def _plain(url: str) -> str:
    """An SQLAlchemy URL as asyncpg takes it."""
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _on_server(server: str, statement: str) -> None:
    conn = await asyncpg.connect(_plain(server))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def databases(server: str, run: str, fresh: bool, keep: bool) -> AsyncIterator[dict]:
    """service -> the URL of its database ``<run>_<service>``: created and migrated when
    ``fresh``, dropped afterwards unless ``keep``."""
    base = sa.make_url(server).set(drivername="postgresql+asyncpg")
    urls = {
        s: base.set(database=f"{run}_{s.removesuffix('-svc')}").render_as_string(
            hide_password=False
        )
        for s in DATABASES
    }
    try:
        if fresh:
            for service, url in urls.items():
                await _on_server(server, f'CREATE DATABASE "{sa.make_url(url).database}"')
                await asyncio.to_thread(upgrade, migrations_of(service), url)
        yield urls
    finally:
        if keep:
            print(f"kept the databases {run}_* (--reuse {run} to measure them again)")
        else:
            for url in urls.values():
                name = sa.make_url(url).database
                await _on_server(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- what each service holds ---------------------------------------------------------------

# A second sales instance and the statuses and case types of sales_pipeline's opportunities
# (case_queries already made the "sales" instance); every case type's published version
# (what a change of a case reads).
SALES_CONFIG = """
INSERT INTO case_statuses (name, label, grouping, weight, probability) VALUES
  ('lead', 'Lead', 'opened', 11, 10), ('qualified', 'Qualified', 'opened', 12, 30),
  ('proposal', 'Proposal', 'opened', 13, 50), ('negotiation', 'Negotiation', 'opened', 14, 90),
  ('won', 'Won', 'closed', 15, 100), ('lost', 'Lost', 'closed', 16, 0);
INSERT INTO instances (name, label, singular_label, instance_type) VALUES
  ('partners', 'Partner deals', 'Partner deal', 'sales_opportunity');
INSERT INTO case_types (name, title, instance, version, definition)
  SELECT 'deal_' || k, 'Deal ' || k, CASE WHEN k < 3 THEN 'sales' ELSE 'partners' END, 1,
         '{}'::jsonb
  FROM generate_series(0, 4) k;
INSERT INTO case_type_versions (name, version, definition)
  SELECT name, version, definition FROM case_types;
"""


async def load_case_svc(url: str, cases: int, opportunities: int) -> None:
    await load_cases(url, cases)
    database = Database(url)
    try:
        await run_script(database, SALES_CONFIG, {})
        await run_script(database, OPPORTUNITIES, {"opportunities": opportunities})
        (total,) = await vacuum_and_count(database, "SELECT count(*) FROM cases")
    finally:
        await database.dispose()
    print(f"with {opportunities} opportunities: {total} cases in all")


async def copy_rows(source_url: str, query: str, target_url: str, table: str) -> int:
    """The rows ``query`` gives in one database, into ``table`` of another (binary COPY:
    its columns, in order, of the same types)."""
    source, target = (
        await asyncpg.connect(_plain(source_url)),
        await asyncpg.connect(_plain(target_url)),
    )
    try:
        buffer = io.BytesIO()
        await source.copy_from_query(query, output=buffer, format="binary")
        buffer.seek(0)
        status = await target.copy_to_table(table, source=buffer, format="binary")
        return int(status.split()[-1])
    finally:
        await source.close()
        await target.close()


# activity-svc's read model of cases, as its consumer would have written it.
CASES_AS_ACTIVITY_SVC_KNOWS_THEM = """
SELECT c.id, c.instance, c.case_type, c.case_type_version, c.start_date, c.status,
       s.grouping, c.assignee, c.created_by, c.active,
       coalesce((SELECT jsonb_agg(k.contact_id::text ORDER BY k.position)
                 FROM case_clients k WHERE k.case_id = c.id), '[]'::jsonb),
       c.merged_into, c.version, 0
FROM cases c JOIN case_statuses s ON s.name = c.status
"""
# case-svc's activity projection, with what activity-svc's activities need of each case.
PROJECTED_ACTIVITIES = """
SELECT a.activity_id, a.case_id, a.status, a.due_at, c.assignee, c.created_by, c.created_at,
       (row_number() OVER (PARTITION BY a.case_id ORDER BY a.activity_id))::int
FROM case_activities a JOIN cases c ON c.id = a.case_id
"""
ACTIVITIES = """
CREATE UNLOGGED TABLE bench_projected (activity_id uuid, case_id uuid, status text,
  due_at timestamptz, assignee text, created_by text, created_at timestamptz, k int);
"""
ACTIVITIES_FROM_PROJECTION = """
INSERT INTO activity_types (name, label) VALUES
  ('open_case', 'Open Case'), ('follow_up_call', 'Follow up call'), ('email', 'Email')
  ON CONFLICT DO NOTHING;
INSERT INTO activities (id, case_id, type, subject, status, due_at, occurred_at, assignee_ids,
                        priority, created_by, created_at, updated_at)
  SELECT activity_id, case_id, (ARRAY['open_case', 'follow_up_call', 'email'])[1 + k % 3],
         (ARRAY['Case opened', 'Follow up call', 'Email the client'])[1 + k % 3] || ' ' || k,
         status, due_at, CASE WHEN status = 'completed' THEN least(due_at, now()) END,
         CASE WHEN assignee IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(assignee) END,
         'normal', created_by, created_at, now()
  FROM bench_projected;
INSERT INTO activities (id, case_id, type, subject, status, due_at, assignee_ids, priority,
                        created_by, created_at, updated_at)
  SELECT gen_random_uuid(), id, 'follow_up_call', 'Call back ' || k, 'scheduled',
         now() + (k - 15.5) * interval '1 day', jsonb_build_array(CAST(:light AS text)),
         'normal', created_by, now() - interval '30 days', now()
  FROM (SELECT id, created_by, row_number() OVER (ORDER BY id) AS k FROM cases
        WHERE active AND instance = 'cases' ORDER BY id LIMIT 60) c;
INSERT INTO activity_assignees (activity_id, assignee, status, due_at, due_time)
  SELECT id, a.assignee, status, due_at, coalesce(due_at, occurred_at, created_at)
  FROM activities, LATERAL jsonb_array_elements_text(assignee_ids) AS a(assignee);
DROP TABLE bench_projected
"""


async def load_activity_svc(url: str, case_url: str) -> None:
    cases = await copy_rows(case_url, CASES_AS_ACTIVITY_SVC_KNOWS_THEM, url, "cases")
    database = Database(url)
    try:
        await run_script(database, ACTIVITIES, {})
        await copy_rows(case_url, PROJECTED_ACTIVITIES, url, "bench_projected")
        await run_script(database, ACTIVITIES_FROM_PROJECTION, {"light": LIGHT_USER})
        activities, overdue = await vacuum_and_count(
            database,
            "SELECT count(*), count(*) FILTER (WHERE status = 'scheduled' AND due_at < now()) "
            "FROM activities",
        )
    finally:
        await database.dispose()
    print(f"activity-svc: {cases} cases, {activities} activities ({overdue} overdue)")


async def workload(activity_url: str, user: str) -> tuple[int, int]:
    """(overdue, scheduled) activities of ``user``."""
    conn = await asyncpg.connect(_plain(activity_url))
    try:
        row = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE due_at < now()), count(*) FROM activity_assignees "
            "WHERE assignee = $1 AND status = 'scheduled'",
            user,
        )
        return row[0], row[1]
    finally:
        await conn.close()


@dataclass(frozen=True)
class Picked:
    """What the pages open: the busiest contact, its newest open case (which the set-up
    gives history, activities and emails), and the cases of that contact."""

    contact_id: str
    contact_name: str
    case_id: str
    case_subject: str
    contact_case_ids: list[str]


async def pick(case_url: str) -> Picked:
    conn = await asyncpg.connect(_plain(case_url))
    try:
        contact = await conn.fetchrow(
            "SELECT p.id, p.display_name FROM case_clients k JOIN contacts p ON p.id = k.contact_id "
            "JOIN cases c ON c.id = k.case_id WHERE c.instance = 'cases' "
            "GROUP BY p.id ORDER BY count(*) DESC, p.id LIMIT 1"
        )
        rows = await conn.fetch(
            "SELECT c.id, c.subject, c.active, c.instance FROM case_clients k "
            "JOIN cases c ON c.id = k.case_id WHERE k.contact_id = $1 "
            "ORDER BY c.active DESC, c.instance = 'cases' DESC, c.created_at DESC",
            contact["id"],
        )
    finally:
        await conn.close()
    return Picked(
        contact_id=str(contact["id"]),
        contact_name=contact["display_name"],
        case_id=str(rows[0]["id"]),
        case_subject=rows[0]["subject"],
        contact_case_ids=[str(r["id"]) for r in rows],
    )


EMAILS = """
INSERT INTO emails (id, notification_id, case_id, template, to_spec, subject, body_text, status,
                    message_id, attempts, requested_by, created_at, sent_at)
  SELECT gen_random_uuid(), gen_random_uuid(), case_id, 'acknowledgement', '["clients"]'::jsonb,
         'We received your message: ' || subject,
         'Dear client, thank you for contacting us about "' || subject || '".',
         'sent', 'bench-' || gen_random_uuid() || '@example.org', 1, 'rule:bench',
         created_at, created_at + interval '2 seconds'
  FROM bench_cases;
INSERT INTO emails (id, notification_id, case_id, template, to_spec, subject, body_text, status,
                    message_id, attempts, requested_by, created_at, sent_at)
  SELECT gen_random_uuid(), gen_random_uuid(), CAST(:case_id AS uuid), NULL,
         '["clients"]'::jsonb, 'About your case, message ' || k,
         'Dear client,' || chr(10) || chr(10) || 'Message ' || k || ' about your case.',
         'sent', 'bench-case-' || k || '-' || gen_random_uuid() || '@example.org', 1,
         'user:user_4', now() - k * interval '1 day', now() - k * interval '1 day'
  FROM generate_series(1, 5) k;
DROP TABLE bench_cases
"""


async def load_notify_svc(url: str, case_url: str, picked: Picked) -> None:
    database = Database(url)
    try:
        await run_script(
            database,
            "CREATE UNLOGGED TABLE bench_cases (case_id uuid, subject text, created_at timestamptz)",
            {},
        )
        await copy_rows(
            case_url,
            "SELECT id, subject, created_at FROM cases WHERE abs(hashtext(id::text)) % 10 = 0",
            url,
            "bench_cases",
        )
        await run_script(database, EMAILS, {"case_id": picked.case_id})
        # What notify-svc would have learnt from case.events of the cases the pages show.
        states = await case_states(case_url, [picked.case_id, *picked.contact_case_ids])
        notify_tables = importlib.import_module("notify_svc.tables")
        async with database.transaction() as tx:
            await keep_cases(tx.session, notify_tables.cases, states)
        (emails,) = await vacuum_and_count(database, "SELECT count(*) FROM emails")
    finally:
        await database.dispose()
    print(f"notify-svc: {emails} emails")


async def case_states(case_url: str, ids: list[str]) -> list[Any]:
    from case_svc.cases import states_of
    from case_svc.tables import cases

    database = Database(case_url)
    try:
        async with database.transaction() as tx:
            rows = (await tx.session.execute(sa.select(cases).where(cases.c.id.in_(ids)))).all()
            return await states_of(tx, rows)
    finally:
        await database.dispose()


async def load_intake_svc(url: str) -> None:
    """intake-svc's read model of the case type its forms open cases of."""
    database = Database(url)
    try:
        await run_script(
            database,
            "INSERT INTO case_types (name, instance, version, active, definition) "
            "VALUES ('type_0', 'cases', 1, true, '{}'::jsonb)",
            {},
        )
    finally:
        await database.dispose()


async def load_automation_svc(url: str) -> None:
    """automation-svc's read model of notify-svc's templates (its rules name them)."""
    names = [
        path.removeprefix("/templates/")
        for service, _, path, _ in configuration_requests()
        if service == "notify-svc"
    ]
    database = Database(url)
    try:
        await run_script(
            database,
            "INSERT INTO templates (name, updated_at) SELECT unnest(CAST(:names AS text[])), now()",
            {"names": names},
        )
    finally:
        await database.dispose()


async def load_all(urls: dict[str, str], cases: int, opportunities: int) -> Picked:
    started = time.perf_counter()
    await load_case_svc(urls["case-svc"], cases, opportunities)
    picked = await pick(urls["case-svc"])
    await load_activity_svc(urls["activity-svc"], urls["case-svc"])
    await load_notify_svc(urls["notify-svc"], urls["case-svc"], picked)
    await load_intake_svc(urls["intake-svc"])
    await load_automation_svc(urls["automation-svc"])
    print(f"loaded every database in {time.perf_counter() - started:.1f}s")
    return picked


# -- through the APIs, once the services run -----------------------------------------------


def configuration_requests() -> list[tuple[str, str, str, Any]]:
    """(service, method, path, body): the demo's activity types, templates, rules and form
    (on a case type of the bench), and EXTRA_CONFIG more of each of the last three."""
    wanted = {"activity-svc", "notify-svc", "automation-svc", "intake-svc"}
    demo = [r for r in read_demo() if r.service in wanted]
    requests = []
    for r in demo:
        body = copy.deepcopy(r.body)
        if r.path.startswith("/forms/"):
            body["case_type"] = "type_0"
        requests.append((r.service, r.method, r.path, body))
    template = next(r for r in demo if r.path.startswith("/templates/"))
    rule = next(r for r in demo if r.path.startswith("/rules/"))
    form = next(r for r in requests if r[2].startswith("/forms/"))
    for i in range(EXTRA_CONFIG):
        requests.append(("notify-svc", "PUT", f"/templates/bench_{i:02}", template.body))
        rule_body = {**rule.body, "name": f"Bench rule {i:02}"}
        requests.append(("automation-svc", "PUT", f"{rule.path[:-4]}{0x100 + i:04x}", rule_body))
        form_body = {**form[3], "title": f"Bench form {i:02}"}
        requests.append(("intake-svc", "PUT", f"/forms/bench-{i:02}", form_body))
    return requests


async def set_up(urls: dict[str, str], picked: Picked, bench_user: str) -> dict[str, str]:
    """The configuration, and the picked case's history and two more activities (made once:
    a kept database has them). Returns ids the pages open: a rule and a template."""
    headers = {"Authorization": f"Bearer {ADMIN}"}
    async with httpx.AsyncClient(timeout=30, headers=headers) as client:
        for service, method, path, body in configuration_requests():
            answer = await client.request(method, urls[service] + path, json=body)
            if not (answer.is_success or answer.status_code == 409):
                raise RuntimeError(f"{method} {service}{path}: {answer.status_code} {answer.text}")
        case = f"{urls['case-svc']}/cases/{picked.case_id}"
        if not (await client.get(f"{case}/history")).json():
            await _give_history(client, case, bench_user)
            await _add_activities(client, urls["activity-svc"], picked.case_id, bench_user)
        rules = (await client.get(f"{urls['automation-svc']}/rules")).json()["items"]
    return {"rule": str(rules[0]["id"]), "template": "acknowledgement"}


async def _give_history(client: httpx.AsyncClient, case: str, bench_user: str) -> None:
    """Four changes, each to something the case is not yet (a change to the same is refused)."""
    now = (await client.get(case)).json()
    status = next(s for s in ("in_progress", "waiting") if s != now["status"])
    assignee = bench_user if now["assignee"] != bench_user else "user_9"
    changes = [
        ("PATCH", "", {"details": "The client called again: the leak is worse."}),
        ("POST", "/status", {"status": status, "note": "Looking into it"}),
        ("POST", "/assign", {"user": assignee}),
        ("POST", "/tags", {"add": ["callback", "bench"]}),
    ]
    version = now["version"]
    for method, path, body in changes:
        answer = await client.request(
            method, case + path, json=body, headers={"If-Match": str(version)}
        )
        if not answer.is_success:
            raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.text}")
        version = answer.json()["version"]


async def _add_activities(
    client: httpx.AsyncClient, activity_api: str, case_id: str, bench_user: str
) -> None:
    for body in (
        {
            "type": "follow_up_call",
            "subject": "Call the client back",
            "status": "completed",
            "occurred_at": "2026-01-05T10:00:00Z",
            "assignee_ids": [bench_user],
        },
        {
            "type": "follow_up_call",
            "subject": "Check the repair was done",
            "due_at": "2030-01-05T10:00:00Z",
            "assignee_ids": [bench_user],
        },
    ):
        answer = await client.post(f"{activity_api}/activities", json={"case_id": case_id, **body})
        if not answer.is_success:
            raise RuntimeError(f"POST /activities: {answer.status_code} {answer.text}")


# -- the service processes -----------------------------------------------------------------


@dataclass
class Served:
    urls: dict[str, str]  # service -> its base URL
    pids: dict[str, int]  # service -> its process id


# One service's process: its settings from the environment and its app as ``<svc> serve``
# makes them, served without the lifespan (which would start the broker's consumers).
SERVE = """
import importlib, sys
import uvicorn
from casestream.logging import configure_logging
from casestream.service import _tune_garbage_collector
package, port = sys.argv[1], int(sys.argv[2])
settings = importlib.import_module(package + ".config").Settings()
configure_logging(settings.service_name, settings.log_level, settings.log_json)
app = importlib.import_module(package + ".main").create_app(settings)
_tune_garbage_collector()
uvicorn.run(app, host="127.0.0.1", port=port, lifespan="off", log_config=None, access_log=False)
"""


@contextlib.contextmanager
def serving(database_urls: dict[str, str], public_key: str) -> Iterator[Served]:
    """Each of the five services in a process of its own on a free port, taking the
    console's signed tokens (``public_key``) and the bench's static ones; stopped after."""
    ports = devinfra.free_ports(len(PACKAGES))
    logs = Path(tempfile.mkdtemp(prefix="bench-console-"))
    processes: dict[str, subprocess.Popen[bytes]] = {}
    tokens = {k: v.model_dump() for k, v in STAFF_TOKENS.items()}

    try:
        for (service, package), port in zip(PACKAGES.items(), ports, strict=True):
            prefix = service.upper().replace("-", "_") + "_"
            env = {
                **os.environ,
                f"{prefix}DATABASE_URL": database_urls[service],
                f"{prefix}JWT_PUBLIC_KEY": public_key,
                f"{prefix}STAFF_TOKENS": json.dumps(tokens),
                f"{prefix}LOG_LEVEL": "WARNING",
                f"{prefix}LOG_JSON": "false",
                "INTAKE_SVC_FORM_SECRET": secrets.token_urlsafe(24),
            }
            log = open(logs / f"{service}.log", "wb")  # noqa: SIM115 (the process writes it)
            processes[service] = subprocess.Popen(
                [sys.executable, "-c", SERVE, package, str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        urls = {s: f"http://127.0.0.1:{p}" for s, p in zip(PACKAGES, ports, strict=True)}
        for service, url in urls.items():
            _wait_healthy(service, url, processes[service], logs)
        yield Served(urls, {s: p.pid for s, p in processes.items()})
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_healthy(service: str, url: str, process: subprocess.Popen, logs: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    tail = (logs / f"{service}.log").read_text()[-3000:]
    raise RuntimeError(f"{service} did not start:\n{tail}")


# -- CPU of other processes ----------------------------------------------------------------

TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def cpu_ms(pids: list[int]) -> dict[int, float]:
    """pid -> user + system CPU so far (ms), of those still running."""
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) * TICK_MS
    return used


async def backend_pids(server: str, database_names: list[str]) -> list[int]:
    """The PostgreSQL backends serving these databases now."""
    conn = await asyncpg.connect(_plain(server))
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = any($1::text[])", database_names
        )
        return [r["pid"] for r in rows]
    finally:
        await conn.close()


def used_between(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(after[p] - before.get(p, 0.0) for p in after)
