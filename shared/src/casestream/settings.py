"""Settings every service shares; each service subclasses, naming itself once
(``class Settings(ServiceSettings, service="case-svc")``), which gives it its env prefix
(``CASE_SVC_``), its ``service_name`` and its database (``casestream_case``).

Built by ``Settings()`` inside a factory, never at import.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict


class StaffToken(BaseModel):
    """What a bearer token stands for: a user and their rights, and where to reach them
    (notify-svc sends a rule's email "to the assignee" here)."""

    user: str
    rights: list[str] = Field(default_factory=lambda: ["admin"])
    email: str | None = None
    name: str | None = None


def _database_url(database: str) -> str:
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CASESTREAM_", extra="ignore")

    # The service's name in logs, metrics, consumer groups and the inbox (set by the service).
    service_name: str = "casestream"
    # Its own database (SQLAlchemy URL, asyncpg driver): casestream_<service> by default.
    database_url: str = _database_url("casestream")
    # Connections kept open to it by each process.
    database_pool_size: int = 10

    # The Kafka brokers to start from, comma-separated host:port.
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # Prepended to every topic and consumer group name: several systems (or test runs) can
    # share one broker without seeing each other's messages.
    topic_prefix: str = ""
    # Apache Kafka in production: acks=all and idempotence on. Tansu rejects idempotent
    # producers, so the local stack turns it off.
    kafka_acks: Literal["all", 0, 1, -1] = "all"
    kafka_enable_idempotence: bool = False

    # How the services reach the brokers: PLAINTEXT (local), SSL (TLS), SASL_PLAINTEXT or
    # SASL_SSL (a user name over TLS: what production brokers want).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    # TLS: the CA the brokers' certificates are checked against (none: the system's), and a
    # client certificate and key (PEM files) when the brokers ask for one (mutual TLS).
    kafka_ssl_cafile: str | None = None
    kafka_ssl_certfile: str | None = None
    kafka_ssl_keyfile: str | None = None
    kafka_ssl_key_password: str | None = None
    # Check that the broker's certificate names the host connected to (keep it on).
    kafka_ssl_check_hostname: bool = True
    # SASL: the mechanism, and the user and password for PLAIN and SCRAM.
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] = (
        "SCRAM-SHA-512"
    )
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    # OAUTHBEARER: tokens from this OAuth 2 token endpoint (client credentials grant), as
    # this client, with these scopes (space-separated).
    kafka_sasl_oauth_token_url: str | None = None
    kafka_sasl_oauth_client_id: str | None = None
    kafka_sasl_oauth_client_secret: str | None = None
    kafka_sasl_oauth_scope: str | None = None

    # How long a produce or other broker request may take before it fails (and is retried).
    kafka_request_timeout_s: float = 10.0
    # A producer waits this long to fill a batch before sending it.
    kafka_linger_ms: int = 5
    # New consumer groups start at the beginning: nothing published before they joined is missed.
    kafka_auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    # The largest message a service publishes (the broker's and topics' limit must allow it).
    kafka_max_message_bytes: int = 1_000_000
    # A stopping consumer says nothing to its group: its partitions move once its session
    # times out (10 s). Tansu 0.6 keeps a leader that leaves mid-rebalance as the group's
    # leader for ever, and then no member gets a partition again (docs/decisions.md); Kafka
    # hands partitions over at once when this is on.
    kafka_leave_group_on_stop: bool = False

    # Consumers per handler in this process, each in the handler's group owning some
    # partitions (order per key holds). One is enough with batches: each poll brings up to
    # CONSUME_BATCH_SIZE records, handled in one transaction.
    consume_workers: int = 1
    consume_batch_size: int = 100
    # A failing message is retried this many times in all, with exponential backoff from
    # the initial wait up to the longest, then it goes to <topic>.dlq.
    consume_max_attempts: int = 5
    consume_backoff_initial_s: float = 0.2
    consume_backoff_max_s: float = 5.0
    # A message that came before what it needs is held (casestream.messaging.holding):
    # replicas look for released ones this often, and give up on one after this long.
    held_poll_interval_s: float = 2.0
    held_give_up_s: float = 7 * 24 * 3600.0

    # The outbox relay publishes up to this many rows at a time, and looks for rows this
    # often when no commit woke it.
    outbox_batch_size: int = 200
    outbox_poll_interval_s: float = 1.0
    # A woken relay waits this long first, so the commits of a busy moment go in one batch.
    outbox_linger_ms: int = 5
    # A row that fails to publish this many times is parked (kept, no longer tried).
    outbox_max_attempts: int = 10
    # The outbox's shards, each relayed in order under its own advisory lock (by key).
    outbox_shards: int = 8
    # Commits wake the relay with LISTEN/NOTIFY (off: it only polls).
    outbox_notify: bool = True
    # Published outbox rows are kept this long (for `republish` after a broker lost data).
    outbox_retention_hours: int = 72
    # Inbox rows (message ids handled) are kept this long: a redelivery older than that
    # would be handled again.
    inbox_retention_hours: int = 24 * 14

    # Where the HTTP API listens.
    http_host: str = "127.0.0.1"
    http_port: int = 8000

    # token -> who it is. No token is built in: the deployment supplies them. Kept for
    # scripts and internal apps; people sign in and send signed JWTs (below).
    staff_tokens: dict[str, StaffToken] = Field(default_factory=dict)
    # Signed JWT access tokens (casestream.http.access_tokens) are accepted when a key is
    # set: a PEM public key (the console's own, in the local stack) ...
    jwt_public_key: str | None = None
    # ... or an OpenID Connect provider's JWKS URL (keys kept an hour).
    jwt_jwks_url: str | None = None
    # The issuer and audience a token must name; expiry is enforced, with this leeway for
    # clocks that differ.
    jwt_issuer: str = "casestream-console"
    jwt_audience: str = "casestream"
    jwt_leeway_s: float = 30.0
    # The signature algorithms taken (asymmetric only: a verifier cannot sign).
    jwt_algorithms: list[str] = Field(default_factory=lambda: ["ES256", "RS256"])
    # The claim holding the user's rights (a list of strings, or one space-separated string):
    # a provider maps its roles or groups to it.
    jwt_rights_claim: str = "rights"

    # Log level, and one JSON object per line (off: readable lines for a terminal).
    log_level: str = "INFO"
    log_json: bool = True

    def __init_subclass__(cls, *, service: str | None = None, **kwargs: Any) -> None:
        # ``service=`` is for __pydantic_init_subclass__ (below), which runs once the fields
        # are built; any other keyword is refused here as usual.
        super().__init_subclass__(**kwargs)

    @classmethod
    def __pydantic_init_subclass__(cls, *, service: str | None = None, **kwargs: Any) -> None:
        """``service="case-svc"``: env vars ``CASE_SVC_*``, ``service_name`` "case-svc",
        database ``casestream_case``; a subclass without it keeps its parent's."""
        super().__pydantic_init_subclass__(**kwargs)
        if service is None:
            return
        cls.model_config["env_prefix"] = service.upper().replace("-", "_") + "_"
        defaults = {
            "service_name": service,
            "database_url": _database_url("casestream_" + service.removesuffix("-svc")),
        }
        for name, default in defaults.items():
            cls.model_fields[name] = FieldInfo.merge_field_infos(
                cls.model_fields[name], default=default
            )
        cls.model_rebuild(force=True)  # validation takes up the new defaults

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def group(self, handler: str) -> str:
        """The consumer group (and inbox consumer name) of one of this service's handlers."""
        return f"{self.topic_prefix}{self.service_name}.{handler}"

    @field_validator("kafka_acks", mode="before")
    @classmethod
    def _acks_from_text(cls, value: object) -> object:
        """``CASESTREAM_KAFKA_ACKS=1`` arrives as text: the numbers mean numbers."""
        if isinstance(value, str) and value.lstrip("-").isdigit():
            return int(value)
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, url: str) -> str:
        # Accept the usual postgresql:// form and use asyncpg for it.
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+asyncpg://" + url[len(prefix) :]
        return url
