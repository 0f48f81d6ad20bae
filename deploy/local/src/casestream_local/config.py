"""How the local stack is laid out: which services, on which ports, with which settings."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from casestream_local import console_access, demo
from casestream_local.local_secrets import kept_secret

HOST = "127.0.0.1"


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    env_prefix: str
    database: str  # database name without the stack's prefix
    port: int
    # Whether it speaks Kafka (consumes, has an outbox): the console only calls the others.
    messaging: bool = True


SERVICES = (
    ServiceSpec("case-svc", "case_svc", "CASE_SVC_", "case", 8010),
    ServiceSpec("activity-svc", "activity_svc", "ACTIVITY_SVC_", "activity", 8020),
    ServiceSpec("automation-svc", "automation_svc", "AUTOMATION_SVC_", "automation", 8030),
    ServiceSpec("notify-svc", "notify_svc", "NOTIFY_SVC_", "notify", 8040),
    ServiceSpec("intake-svc", "intake_svc", "INTAKE_SVC_", "intake", 8050),
    ServiceSpec("console-svc", "console_svc", "CONSOLE_SVC_", "console", 8060, messaging=False),
)
SERVICE_NAMES = tuple(s.name for s in SERVICES)
# The services that consume and publish (the fault campaign kills these; republish runs here).
MESSAGING_SERVICE_NAMES = tuple(s.name for s in SERVICES if s.messaging)


@dataclass(frozen=True)
class Replica:
    """One process of a service: the first is named as the service, the n-th ``<svc>-<n>``,
    serving HTTP on the service's port + n - 1 (all share its database and consumer groups)."""

    spec: ServiceSpec
    number: int
    port: int

    @property
    def name(self) -> str:
        return self.spec.name if self.number == 1 else f"{self.spec.name}-{self.number}"


def service_of(process_name: str) -> str | None:
    """The service a recorded process (``case-svc``, ``case-svc-2``) is a replica of."""
    base, _, number = process_name.rpartition("-")
    if process_name in SERVICE_NAMES:
        return process_name
    return base if base in SERVICE_NAMES and number.isdigit() else None


def _repo_root() -> Path:
    # deploy/local/src/casestream_local/config.py -> the repository (editable install).
    candidate = Path(__file__).resolve().parents[4]
    return candidate if (candidate / "deploy" / "local").is_dir() else Path.cwd()


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


@dataclass
class StackConfig:
    repo_root: Path = field(default_factory=_repo_root)
    data_dir: Path | None = None  # default <repo_root>/.data
    services: tuple[str, ...] = SERVICE_NAMES
    service_ports: dict[str, int] = field(
        default_factory=lambda: {s.name: s.port for s in SERVICES}
    )
    smtp_port: int = 1025
    smtp_http_port: int = 8025
    smtp_sender: str = "casework@example.org"
    # A server-level URL (postgresql://user@host:port/postgres); None: embedded PostgreSQL.
    database_url: str | None = field(default_factory=lambda: _env("CASESTREAM_DATABASE_URL"))
    postgres_port: int = 55432
    database_prefix: str = "casestream_"
    # Bootstrap servers of a running broker; None: a Tansu broker of our own on kafka_port.
    kafka_bootstrap: str | None = field(default_factory=lambda: _env("CASESTREAM_KAFKA_BOOTSTRAP"))
    kafka_port: int = 9092
    kafka_enable_idempotence: bool = False  # Tansu rejects idempotent producers
    topic_prefix: str = ""
    staff_token: str = field(default_factory=lambda: _env("CASESTREAM_DEV_TOKEN") or "dev-admin")
    # Who may sign in to the console, all with one password (CASESTREAM_DEMO_PASSWORD; made
    # once per data folder when unset): console_access.DEMO_USERS unless given.
    console_users: dict[str, dict[str, Any]] = field(
        default_factory=lambda: dict(console_access.DEMO_USERS)
    )
    console_password: str | None = field(default_factory=lambda: _env("CASESTREAM_DEMO_PASSWORD"))
    load_demo: bool = True
    demo_path: Path = demo.DEMO_PATH
    log_json: bool = field(
        default_factory=lambda: (_env("CASESTREAM_LOG_JSON") or "").lower() in {"1", "true", "yes"}
    )
    # Processes per service (CASESTREAM_REPLICAS): with two, partitions move between them when
    # one stops, and every worker (relay, timers, held messages) must share its tables.
    replicas: int = field(default_factory=lambda: int(_env("CASESTREAM_REPLICAS") or 1))
    ready_timeout_s: float = 90.0
    python: str = sys.executable
    extra_env: dict[str, str] = field(default_factory=dict)  # added to every service's env

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir) if self.data_dir else self.repo_root / ".data"

    @property
    def data(self) -> Path:
        assert self.data_dir is not None
        return self.data_dir

    @property
    def logs(self) -> Path:
        return self.data / "logs"

    @property
    def demo_password(self) -> str:
        return console_access.demo_password(self.data, self.console_password)

    def service_url(self, name: str) -> str:
        return f"http://{HOST}:{self.service_ports[name]}"

    def replicas_of(self, spec: ServiceSpec) -> list[Replica]:
        first = self.service_ports[spec.name]
        return [Replica(spec, n, first + n - 1) for n in range(1, self.replicas + 1)]


def service_env(
    config: StackConfig,
    spec: ServiceSpec,
    *,
    database_server: str,
    kafka_bootstrap: str,
    port: int | None = None,
) -> dict[str, str]:
    """The environment of one service's process (its settings, see casestream.settings);
    ``port``: a replica's HTTP port (default: the service's)."""
    p = spec.env_prefix
    server = sa.make_url(database_server)
    database = server.set(
        drivername="postgresql+asyncpg", database=config.database_prefix + spec.database
    )
    env = {
        f"{p}DATABASE_URL": database.render_as_string(hide_password=False),
        f"{p}KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        f"{p}KAFKA_ENABLE_IDEMPOTENCE": str(config.kafka_enable_idempotence).lower(),
        f"{p}KAFKA_ACKS": "all",
        f"{p}TOPIC_PREFIX": config.topic_prefix,
        f"{p}HTTP_HOST": HOST,
        f"{p}HTTP_PORT": str(port or config.service_ports[spec.name]),
        f"{p}STAFF_TOKENS": json.dumps(
            {config.staff_token: {"user": "admin", "rights": ["admin"]}}
        ),
        f"{p}LOG_JSON": str(config.log_json).lower(),
        "PYTHONUNBUFFERED": "1",
    }
    private_key, public_key = console_access.signing_key(config.data)
    env[f"{p}JWT_PUBLIC_KEY"] = public_key
    if spec.name == "console-svc":
        urls = {s.name: config.service_url(s.name) for s in SERVICES if s.messaging}
        env |= {
            "CONSOLE_SVC_SERVICE_URLS": json.dumps(urls),
            "CONSOLE_SVC_SIGNING_KEY": private_key,
            "CONSOLE_SVC_USERS": console_access.users_setting(
                config.console_users, config.demo_password, config.data
            ),
            # Browsers keep Secure cookies from http://127.0.0.1 and localhost only.
            "CONSOLE_SVC_COOKIE_SECURE": "true",
        }
    if spec.name == "intake-svc":
        env["INTAKE_SVC_FORM_SECRET"] = _env("INTAKE_SVC_FORM_SECRET") or kept_secret(
            config.data, "form-secret"
        )
    if spec.name == "notify-svc":
        env |= {
            "NOTIFY_SVC_SMTP_HOST": HOST,
            "NOTIFY_SVC_SMTP_PORT": str(config.smtp_port),
            "NOTIFY_SVC_SMTP_SENDER": config.smtp_sender,
        }
    return os.environ | env | config.extra_env
