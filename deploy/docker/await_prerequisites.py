"""Wait until a service may start: its database schema is at (or past) the head revision shipped
in this image, and every topic it may use exists (console-svc uses none: it speaks no Kafka).

Kubernetes runs this as each Deployment's initContainer. The migration and topic Jobs are
applied together with the Deployments and nothing orders them, so without this wait a new pod
could start against an old schema (or no topics) and dead-letter messages it cannot handle.

Usage: python /app/ops/await_prerequisites.py <service> [--timeout SECONDS]
The service's own settings (env prefix CASE_SVC_ etc.) give the database and the broker.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
import time
from pathlib import Path

import asyncpg
import sqlalchemy as sa
from aiokafka.admin import AIOKafkaAdminClient

from casestream.messaging.kafka_security import client_options
from casestream.persistence.migrations import scripts
from casestream.topics import topic_specs

SERVICES = ("case-svc", "activity-svc", "automation-svc", "notify-svc", "intake-svc", "console-svc")
# The console only calls the other services' APIs: it has no broker to ask about topics.
WITHOUT_TOPICS = {"console-svc"}


async def schema_revisions(database_url: str) -> set[str]:
    dsn = sa.make_url(database_url).set(drivername="postgresql")
    try:
        conn = await asyncpg.connect(dsn.render_as_string(hide_password=False), timeout=5)
    except asyncpg.InvalidCatalogNameError:
        return set()  # the migration has not created the database yet
    try:
        rows = await conn.fetch("SELECT version_num FROM alembic_version")
    except asyncpg.UndefinedTableError:
        return set()
    finally:
        await conn.close()
    return {row["version_num"] for row in rows}


async def missing_topics(settings: object) -> set[str]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        request_timeout_ms=10_000,
        **client_options(settings),  # type: ignore[arg-type]
    )
    await asyncio.wait_for(admin.start(), 15)
    try:
        existing = set(await asyncio.wait_for(admin.list_topics(), 15))
    finally:
        await admin.close()
    return {settings.topic(spec.name) for spec in topic_specs()} - existing


async def wait(service: str, timeout_s: float) -> bool:
    package = service.replace("-", "_")
    settings = importlib.import_module(f"{package}.config").Settings()
    migrations = Path(importlib.import_module(package).__file__).parent / "migrations"
    script = scripts(migrations)  # the service's branch and the shared messaging one
    heads = set(script.get_heads())
    known = {revision.revision for revision in script.walk_revisions()}

    deadline = time.monotonic() + timeout_s
    while True:
        problems = []
        try:
            current = await schema_revisions(settings.database_url)
            # At our head, or beyond it (a revision this image does not know: a newer release
            # migrated already; expand/contract migrations keep older code working meanwhile).
            if not (current and (heads <= current or current - known)):
                problems.append(f"schema at {sorted(current) or 'nothing'}, want {sorted(heads)}")
            if service not in WITHOUT_TOPICS and (missing := await missing_topics(settings)):
                problems.append(f"{len(missing)} topic(s) missing, e.g. {sorted(missing)[0]}")
        except Exception as error:  # not reachable yet: keep waiting
            problems.append(repr(error))
        if not problems:
            topics = "" if service in WITHOUT_TOPICS else ", topics present"
            print(f"{service}: schema at {sorted(current)}{topics}", flush=True)
            return True
        if time.monotonic() > deadline:
            print(f"{service}: gave up waiting: {'; '.join(problems)}", flush=True)
            return False
        print(f"{service}: waiting: {'; '.join(problems)}", flush=True)
        await asyncio.sleep(5)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("service", choices=SERVICES)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    # A non-zero exit makes Kubernetes restart the initContainer (with back-off): it keeps waiting.
    sys.exit(0 if asyncio.run(wait(args.service, args.timeout)) else 1)


if __name__ == "__main__":
    main()
