"""The infrastructure under the services, each piece started only when not already running:
PostgreSQL, the broker and its topics, the SMTP sink. ``Stack`` builds on this."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import subprocess
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from casestream import devinfra
from casestream.topics import TopicSpec, ensure_topics, topic_specs
from casestream_local.config import HOST, StackConfig
from casestream_local.processes import (
    ProcessRecord,
    StackState,
    adopt,
    is_running,
    log_tail,
    spawn,
    start_time,
)


class StackError(RuntimeError):
    pass


class Infrastructure:
    def __init__(self, config: StackConfig | None = None, echo: Callable[[str], None] = print):
        self.config = config or StackConfig()
        self.echo = echo
        self.state = StackState.load(self.config.data / "stack.json")
        # Set when a new in-memory broker replaced one that held the services' messages.
        self.lost_broker_since: str | None = None

    def start_database(self) -> str:
        """The server URL of PostgreSQL: the configured one, or ours (embedded)."""
        if self.config.database_url:
            url = self.config.database_url
            server = sa.make_url(url)
            self._expect_listening(server.host or HOST, server.port or 5432, "PostgreSQL")
        else:
            port = self.config.postgres_port
            pgdata = self.config.data / "postgres"
            foreign = not (pgdata / "postmaster.pid").exists()
            if not self._running("postgres") and devinfra.port_open(HOST, port) and foreign:
                raise self._port_taken(port, "PostgreSQL")
            again = " (already running)" if self._running("postgres") else ""
            self.echo(f"PostgreSQL (embedded) on {HOST}:{port}{again}, data in {pgdata}")
            try:
                url = devinfra.start_embedded_postgres(
                    pgdata, port, self.config.logs / "postgres.log"
                )
            except subprocess.CalledProcessError as error:
                raise StackError(
                    f"PostgreSQL did not start: {(error.stderr or b'').decode(errors='replace')}\n"
                    + log_tail(self.config.logs / "postgres.log")
                ) from error
            pid = int((pgdata / "postmaster.pid").read_text().split()[0])
            self.state.record(
                ProcessRecord(
                    name="postgres",
                    pid=pid,
                    what=f"embedded PostgreSQL in {pgdata}",
                    started=start_time(pid),
                    log=str(self.config.logs / "postgres.log"),
                    port=port,
                    kind="embedded-postgres",
                    data_dir=str(pgdata),
                )
            )
        self.state.info["database_url"] = url
        self.state.save()
        return url

    def start_broker(self) -> str:
        self.lost_broker_since = None  # only this ``up`` may have started a new broker
        if self.config.kafka_bootstrap:
            bootstrap = self.config.kafka_bootstrap
            host, _, port = bootstrap.split(",")[0].rpartition(":")
            self._expect_listening(host or HOST, int(port), "the Kafka broker")
        else:
            port = self.config.kafka_port
            bootstrap = f"{HOST}:{port}"
            if not self._running("tansu"):
                if devinfra.port_open(HOST, port):
                    raise self._port_taken(port, "the Kafka broker")
                self.echo(f"Tansu broker on {bootstrap}")
                log = self.config.logs / "tansu.log"
                # Tansu keeps everything in memory: a new one holds nothing the services
                # published to the last one. What they published since it started is sent
                # again (``republish_lost``) before they go on.
                self.lost_broker_since = self.state.info.get("broker_started_at")
                self.state.info["broker_started_at"] = datetime.now(UTC).isoformat()
                proc = devinfra.start_tansu(port, log)
                self.state.record(
                    adopt("tansu", proc, f"Tansu broker on {bootstrap}", log=str(log), port=port)
                )
        self.state.info["kafka_bootstrap"] = bootstrap
        self.state.save()
        return bootstrap

    def create_topics(self) -> list[str]:
        prefix = self.config.topic_prefix
        specs = [TopicSpec(prefix + s.name, s.partitions) for s in topic_specs()]
        bootstrap = str(self.state.info["kafka_bootstrap"])
        created = _run(lambda: ensure_topics(bootstrap, specs))
        self.echo(f"Topics: {len(created)} created, {len(specs) - len(created)} already there")
        return created

    def start_sink(self) -> None:
        if self._running("smtp-sink"):
            self.echo(f"SMTP sink already running (pid {self.state.processes['smtp-sink'].pid})")
            return
        smtp, http = self.config.smtp_port, self.config.smtp_http_port
        for port in (smtp, http):
            if devinfra.port_open(HOST, port):
                raise self._port_taken(port, "the SMTP sink")
        self.echo(f"SMTP sink on {HOST}:{smtp} (messages at http://{HOST}:{http}/messages)")
        record = spawn(
            "smtp-sink",
            [
                self.config.python,
                "-m",
                "casestream_local.smtp_sink",
                "--host",
                HOST,
                "--smtp-port",
                str(smtp),
                "--http-port",
                str(http),
                "--folder",
                str(self.config.data / "mail"),
            ],
            env=os.environ | {"PYTHONUNBUFFERED": "1"},
            log_path=self.config.logs / "smtp-sink.log",
            cwd=self.config.repo_root,
            port=http,
        )
        self.state.record(record)
        self._wait_for_ports(record, [smtp, http], 30)

    # -- bits ------------------------------------------------------------------------------

    def _running(self, name: str) -> bool:
        record = self.state.processes.get(name)
        return record is not None and is_running(record)

    def _wait_for_ports(self, record: ProcessRecord, ports: list[int], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not all(devinfra.port_open(HOST, p) for p in ports):
            if not is_running(record) or time.monotonic() > deadline:
                raise StackError(f"{record.name} did not start; {self._log_hint(record.name)}")
            time.sleep(0.1)

    def _log_hint(self, name: str) -> str:
        log = self.config.logs / f"{name}.log"
        return f"its log ({log}) ends with:\n{log_tail(log)}"

    def _expect_listening(self, host: str, port: int, what: str) -> None:
        try:
            devinfra.wait_for_port(host, port, 5)
        except TimeoutError:
            raise StackError(
                f"{what} was configured at {host}:{port}, but nothing answers there"
            ) from None

    def _port_taken(self, port: int, purpose: str) -> StackError:
        return StackError(
            f"{HOST}:{port} ({purpose}) is in use by a program this stack did not start: "
            "stop it, or choose other ports (see deploy/local/README.md)"
        )


def _run(coroutine_fn: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a coroutine to completion from synchronous code, even when called inside a running
    event loop (an async test calling ``up()``)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine_fn())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(coroutine_fn())).result()
