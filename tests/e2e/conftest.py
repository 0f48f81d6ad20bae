"""The five services as separate processes, started the way ``make up`` starts them, on a
real PostgreSQL and a real broker, with the SMTP sink: one stack for the e2e session."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx
import pytest
import sqlalchemy as sa

from casestream import devinfra
from casestream_local.config import SERVICE_NAMES, StackConfig
from casestream_local.console_access import DEMO_USERS
from casestream_local.stack import Stack

TOKEN = "e2e-token"
STAFF = {"Authorization": f"Bearer {TOKEN}"}
# The local stack's demo users (casestream_local.console_access.DEMO_USERS) sign in with it.
CONSOLE_PASSWORD = "e2e-console-password"


@pytest.fixture(scope="session")
def stack(postgres_server_url, kafka_bootstrap, tmp_path_factory):
    run = uuid.uuid4().hex[:8]
    # Distinct ports: two services handed the same one would answer for each other.
    ports = devinfra.free_ports(len(SERVICE_NAMES) + 2)
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("stack"),
        service_ports=dict(zip(SERVICE_NAMES, ports, strict=False)),
        smtp_port=ports[-2],
        smtp_http_port=ports[-1],
        database_url=postgres_server_url,
        database_prefix=f"e2e_{run}_",
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=f"e2e{run}-",
        staff_token=TOKEN,
        console_password=CONSOLE_PASSWORD,
        # One more user, for the test that locks them out with failed sign-ins.
        console_users={**DEMO_USERS, "lockout": {"name": "Lee Out", "rights": ["cases:*:own"]}},
    )
    stack = Stack(config, echo=lambda line: None)
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
        asyncio.run(_drop_databases(postgres_server_url, config.database_prefix))


async def _drop_databases(server_url: str, prefix: str) -> None:
    url = sa.make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(url)
    try:
        names = await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1", prefix + "%"
        )
        for row in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    finally:
        await conn.close()


def url(stack: Stack, service: str) -> str:
    return stack.config.service_url(service)


async def emails_about(stack: Stack, subject: str) -> list[dict]:
    sink = f"http://127.0.0.1:{stack.config.smtp_http_port}"
    async with httpx.AsyncClient() as client:
        messages = (await client.get(f"{sink}/messages")).json()
    return [m for m in messages if m["subject"].endswith(subject)]
