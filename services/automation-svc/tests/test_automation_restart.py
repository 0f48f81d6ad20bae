"""A timer survives its worker being killed in the middle of running it: automation-svc is a
real process, SIGKILLed while it holds the claim on a due action (its transaction waiting on
the outbox, which the test keeps locked); the restarted process runs the action, once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from casestream import topics
from casestream.contracts.case import ADD_CASE_TAGS
from casestream.devinfra import free_ports
from casestream.testing.factories import case_event, case_state
from casestream.testing.plugin import eventually, records_on
from casestream.testing.services import (
    STAFF_HEADERS,
    STAFF_TOKEN,
    create_system_topics,
    migrated_database,
)

from .conftest import MIGRATIONS


@asynccontextmanager
async def automation_process(env: dict[str, str], port: int) -> AsyncIterator[Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "automation_svc",
        "serve",
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

            async def ready() -> bool:
                if process.returncode is not None:
                    raise AssertionError("exited")
                try:
                    return (await client.get("/readyz")).status_code == 200
                except httpx.HTTPError:
                    return False

            try:
                await eventually(ready, timeout_s=60, interval_s=0.3)
            except AssertionError:
                if process.returncode is None:
                    process.kill()
                raise AssertionError((await process.stderr.read())[-3000:].decode()) from None
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
            async with asyncio.timeout(30):
                await process.wait()


async def test_a_timer_claimed_by_a_killed_process_runs_once_after_the_restart(
    create_database: Any, kafka_bootstrap: str
):
    prefix = await create_system_topics(kafka_bootstrap)
    url = await migrated_database(create_database, "automation_restart", MIGRATIONS)
    [port] = free_ports(1)
    env = {
        "AUTOMATION_SVC_DATABASE_URL": url,
        "AUTOMATION_SVC_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "AUTOMATION_SVC_TOPIC_PREFIX": prefix,
        "AUTOMATION_SVC_KAFKA_ACKS": "1",
        "AUTOMATION_SVC_CONSUME_WORKERS": "1",
        "AUTOMATION_SVC_HTTP_PORT": str(port),
        "AUTOMATION_SVC_STAFF_TOKENS": json.dumps({STAFF_TOKEN: {"user": "test"}}),
        "AUTOMATION_SVC_TIMER_POLL_INTERVAL_S": "0.2",
        "AUTOMATION_SVC_LOG_LEVEL": "WARNING",
    }
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    holder = await asyncpg.connect(dsn)
    try:
        async with automation_process(env, port) as first:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                rule = {
                    "name": "chase in a few seconds",
                    "trigger": {"event": "case.opened"},
                    "actions": [{"type": "add_tag", "tags": ["chased"], "delay": "PT3S"}],
                }
                response = await client.put(
                    f"/rules/{uuid.uuid4()}", json=rule, headers=STAFF_HEADERS
                )
                assert response.status_code == 201, response.text
            case = case_state()
            opened = case_event(case)
            await producer.send_and_wait(
                f"{prefix}{topics.CASE_EVENTS}",
                json.dumps(opened.model_dump(mode="json")).encode(),
                key=str(case.id).encode(),
            )

            async def pending() -> Any:
                return await holder.fetchval(
                    "SELECT id FROM firing_actions WHERE case_id = $1 AND state = 'pending'",
                    case.id,
                )

            action_id = await eventually(pending)
            # Hold the outbox: the worker's claim goes through, its publish then waits.
            blocker = holder.transaction()
            await blocker.start()
            await holder.execute("LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE")

            async def waiting_on_the_outbox() -> bool:
                return await _other_connection(dsn, _WAITING_INSERT)

            await eventually(waiting_on_the_outbox, timeout_s=15)
            assert await _other_connection(dsn, _CLAIMED, action_id) is True
            first.send_signal(signal.SIGKILL)
            async with asyncio.timeout(10):
                await first.wait()
            await blocker.rollback()  # its backend finds the client gone and rolls back

        async with automation_process(env, port):

            async def done() -> Any:
                return await holder.fetchrow(
                    "SELECT state, command_id FROM firing_actions WHERE id = $1", action_id
                )

            async def finished() -> Any:
                row = await done()
                return row if row["state"] == "done" else None

            row = await eventually(finished, timeout_s=30)
            assert row["command_id"] == action_id
            commands = await records_on(
                kafka_bootstrap,
                f"{prefix}{topics.CASE_COMMANDS}",
                expected=1,
                keys={str(case.id)},
                grace_s=2.0,
            )
            assert [json.loads(r.value)["type"] for r in commands] == [ADD_CASE_TAGS]
            assert json.loads(commands[0].value)["id"] == str(action_id)
            in_outbox = await holder.fetchval(
                "SELECT count(*) FROM outbox WHERE message_id = $1", action_id
            )
            assert in_outbox == 1
    finally:
        await holder.close()
        await producer.stop()


_WAITING_INSERT = """
SELECT count(*) > 0 FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE 'INSERT INTO outbox%'
"""
# The due action is locked by someone else: a SKIP LOCKED read from here does not see it.
_CLAIMED = """
SELECT NOT EXISTS (SELECT 1 FROM firing_actions WHERE id = $1 FOR UPDATE SKIP LOCKED)
"""


async def _other_connection(dsn: str, query: str, *args: Any) -> Any:
    connection = await asyncpg.connect(dsn)
    try:
        return await connection.fetchval(query, *args)
    finally:
        await connection.close()
