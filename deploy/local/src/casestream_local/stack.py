"""The whole system on one machine: PostgreSQL, a Kafka-compatible broker, the topics, the five
services' migrations and processes, the SMTP sink and the demo configuration.

``Stack(StackConfig()).up()`` brings it up (again: what already runs is reused) and records
every process it started in ``<data_dir>/stack.json``; ``down()`` stops exactly those.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from casestream import devinfra
from casestream_local import demo
from casestream_local.config import (
    HOST,
    SERVICE_NAMES,
    SERVICES,
    Replica,
    ServiceSpec,
    StackConfig,
    service_env,
    service_of,
)
from casestream_local.infrastructure import Infrastructure, StackError
from casestream_local.processes import is_running, log_tail, send_signal, spawn, terminate
from casestream_local.summary import describe

__all__ = ["SERVICES", "Stack", "StackConfig", "StackError"]


class Stack(Infrastructure):
    # -- the whole thing --------------------------------------------------------------------

    def up(self) -> dict[str, Any]:
        """Bring everything up; returns the stack's addresses (also printed)."""
        self.config.logs.mkdir(parents=True, exist_ok=True)
        self.start_database()
        self.start_broker()
        self.create_topics()
        if self.lost_broker_since is not None:
            # A consumer that outlived its broker would go on from its old offsets in the new
            # broker's logs and skip what is there before them: the services start afresh.
            self._stop_services()
        to_start = [r for r in self.replicas() if not self._running(r.name)]
        self.migrate([s for s in self._services() if any(r.spec == s for r in to_start)])
        if self.lost_broker_since is not None:
            self.republish_lost(self.lost_broker_since)
        self.start_sink()
        # First replicas first: members joining a group all at once can keep its rebalance
        # going for minutes on Tansu; one at a time per group, each join is one rebalance.
        for number in sorted({r.number for r in to_start}):
            batch = [r for r in to_start if r.number == number]
            self.start_services(batch)
            self.wait_until_ready(batch)
        if self.config.load_demo:
            self.echo("Loading the demo configuration:")
            demo.load_demo(
                demo.read_demo(self.config.demo_path),
                {s.name: self.config.service_url(s.name) for s in self._services()},
                self.config.staff_token,
                echo=self.echo,
            )
        self.echo(describe(self.config, self.info()))
        return self.info()

    def down(self) -> list[str]:
        """Stop what ``up`` recorded, services first (they say goodbye to broker and database),
        then the sink and the broker, then PostgreSQL. Returns the names stopped."""
        records = self.state.processes
        services = [r for n, r in records.items() if service_of(n)]
        order = [services, [records[n] for n in ("smtp-sink", "tansu") if n in records]]
        stopped: list[str] = []
        for group in order:
            if group:
                self.echo("Stopping " + ", ".join(r.name for r in group))
                stopped += terminate(group)
        if (pg := records.get("postgres")) is not None:
            self.echo("Stopping PostgreSQL")
            devinfra.stop_embedded_postgres(Path(pg.data_dir or ""))
            stopped.append(pg.name)
        self.state.forget(stopped)
        if not stopped:
            self.echo("Nothing recorded as running.")
        return stopped

    def stop(self, names: list[str]) -> None:
        """Stop these recorded processes gracefully (SIGTERM, SIGKILL after 25 s); ``up``
        starts them again. PostgreSQL by name ``postgres``."""
        if "postgres" in names and (pg := self.state.processes.get("postgres")) is not None:
            devinfra.stop_embedded_postgres(Path(pg.data_dir or ""))
        records = [self.state.processes[n] for n in names if n != "postgres"]
        terminate(records)
        self.state.forget(names)

    def signal(self, name: str, sig: signal.Signals) -> None:
        """Send ``sig`` to a recorded process (and its group): kill -9, SIGSTOP, SIGCONT."""
        send_signal(self.state.processes[name].pid, sig)

    def _stop_services(self) -> None:
        records = [r for n, r in self.state.processes.items() if service_of(n)]
        running = [r for r in records if self._running(r.name)]
        if running:
            self.echo("Restarting " + ", ".join(r.name for r in running) + " on the new broker")
            self.state.forget(terminate(running))

    def status(self) -> list[dict[str, Any]]:
        rows = []
        for record in self.state.processes.values():
            row = {
                "name": record.name,
                "pid": record.pid,
                "port": record.port,
                "running": self._running(record.name),
                "log": record.log,
            }
            if service_of(record.name) and row["running"]:
                row["ready"] = self._ready(record.name)[0]
            rows.append(row)
        return rows

    def info(self) -> dict[str, Any]:
        return {
            "database_url": self.state.info.get("database_url"),
            "kafka_bootstrap": self.state.info.get("kafka_bootstrap"),
            "services": {s.name: self.config.service_url(s.name) for s in self._services()},
            "replicas": {r.name: f"http://{HOST}:{r.port}" for r in self.replicas()},
            "smtp": f"{HOST}:{self.config.smtp_port}",
            "smtp_http": f"http://{HOST}:{self.config.smtp_http_port}",
            "token": self.config.staff_token,
            "logs": str(self.config.logs),
            "console_users": {
                name: user.get("name") for name, user in self.config.console_users.items()
            },
            "demo_password": self.config.demo_password,
        }

    # -- the services ------------------------------------------------------------------------

    def migrate(self, services: list[ServiceSpec] | None = None) -> None:
        """Run ``<svc> migrate`` for each service, side by side (each creates its database)."""
        services = self._services() if services is None else services
        running = [(spec, self._start_migration(spec)) for spec in services]
        failed = []
        for spec, proc in running:
            log = self.config.logs / f"{spec.name}.log"
            try:
                code = proc.wait(180)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = "timeout"
            if code != 0:
                failed.append(f"{spec.name} migrate failed ({code}); {log}:\n{log_tail(log)}")
        if failed:
            raise StackError("\n\n".join(failed))

    def republish_lost(self, since: str) -> None:
        """The broker was started afresh and held what the services published since
        ``since``: each service sends that again (their consumers' inboxes drop repeats)."""
        self.echo(
            f"The broker started afresh: what the services published since {since} goes again"
        )
        running = [
            (spec, self._start_migration(spec, "republish", "--since", since))
            for spec in self._services()
            if spec.messaging
        ]
        failed = [spec.name for spec, proc in running if proc.wait(120) != 0]
        if failed:
            raise StackError(f"republish failed for {', '.join(failed)}: see their logs")

    def _start_migration(self, spec: ServiceSpec, *command: str) -> subprocess.Popen[bytes]:
        """``<svc> migrate`` (or another one-off ``command``) with the service's settings."""
        command = command or ("migrate",)
        if command == ("migrate",):
            self.echo(f"Migrating {spec.name}")
        with open(self.config.logs / f"{spec.name}.log", "ab") as log:
            log.write(f"\n=== {spec.name} {' '.join(command)}\n".encode())
            log.flush()
            return subprocess.Popen(
                [self.config.python, "-m", spec.module, *command],
                env=self.service_env(spec),
                cwd=self.config.repo_root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def start_services(self, replicas: list[Replica] | None = None) -> None:
        replicas = self.replicas() if replicas is None else replicas
        for replica in replicas:
            name, port = replica.name, replica.port
            if self._running(name):
                self.echo(f"{name} already running (pid {self.state.processes[name].pid})")
                continue
            if devinfra.port_open(HOST, port):
                raise self._port_taken(port, name)
            self.echo(f"Starting {name} on http://{HOST}:{port}")
            self.state.record(
                spawn(
                    name,
                    [self.config.python, "-m", replica.spec.module, "serve"],
                    env=self.service_env(replica.spec, port),
                    log_path=self.config.logs / f"{name}.log",
                    cwd=self.config.repo_root,
                    port=port,
                )
            )

    def wait_until_ready(self, replicas: list[Replica] | None = None) -> None:
        """Until every replica (or those given) answers ``GET /readyz`` with 200, or one dies."""
        pending = [r.name for r in (self.replicas() if replicas is None else replicas)]
        deadline = time.monotonic() + self.config.ready_timeout_s
        last: dict[str, str] = {}
        while pending:
            for name in list(pending):
                record = self.state.processes.get(name)
                if record is None or not is_running(record):
                    raise StackError(f"{name} stopped while starting; {self._log_hint(name)}")
                ready, last[name] = self._ready(name)
                if ready:
                    self.echo(f"{name} is ready")
                    pending.remove(name)
            if pending and time.monotonic() > deadline:
                name = pending[0]
                raise StackError(
                    f"{', '.join(pending)} not ready after {self.config.ready_timeout_s:.0f}s "
                    f"(last answer from {name}: {last.get(name)}); {self._log_hint(name)}"
                )
            if pending:
                time.sleep(0.5)

    def service_env(self, spec: ServiceSpec, port: int | None = None) -> dict[str, str]:
        return service_env(
            self.config,
            spec,
            database_server=str(self.state.info["database_url"]),
            kafka_bootstrap=str(self.state.info["kafka_bootstrap"]),
            port=port,
        )

    def replicas(self) -> list[Replica]:
        return [r for spec in self._services() for r in self.config.replicas_of(spec)]

    # -- bits ----------------------------------------------------------------------------

    def _services(self) -> list[ServiceSpec]:
        unknown = set(self.config.services) - set(SERVICE_NAMES)
        if unknown:
            raise StackError(f"unknown services: {', '.join(sorted(unknown))}")
        return [s for s in SERVICES if s.name in self.config.services]

    def _ready(self, name: str) -> tuple[bool, str]:
        # Ask the port it was started on (``status`` may run with another config's defaults).
        record = self.state.processes.get(name)
        port = record.port if record and record.port else self.config.service_ports[name]
        try:
            response = httpx.get(f"http://{HOST}:{port}/readyz", timeout=3)
        except httpx.HTTPError as error:
            return False, f"{type(error).__name__}"
        return response.status_code == 200, f"{response.status_code} {response.text[:300]}"
