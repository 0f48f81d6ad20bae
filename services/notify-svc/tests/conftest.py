"""notify-svc running for real (migrated PostgreSQL, the test broker, its lifespan and
delivery worker) against a real SMTP server (aiosmtpd) on a free port, plus ways to deliver
its input messages and read what it says.

One app serves every test module of the session (each consumer group join costs seconds on
Tansu). The SMTP server misbehaves on demand, per recipient address: refusals at RCPT or
DATA, a slow DATA reply, or one held until the test lets it go; it numbers the connections
it accepts; and it can be stopped and started again."""

from __future__ import annotations

import asyncio
import email
import email.policy
import functools
import ssl
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from casestream import devinfra
from casestream.contracts.case import CASE_UPDATED, CaseState
from casestream.contracts.notify import SEND_EMAIL, SendEmail
from casestream.envelope import Envelope, new_envelope
from casestream.settings import StaffToken
from casestream.testing.factories import activity_state, case_event, case_state, contact_state
from casestream.testing.harness import ServiceHarness, service_fixture
from casestream.testing.services import ADMIN, STAFF_HEADERS, STAFF_TOKEN
from notify_svc.config import Settings
from notify_svc.main import create_app

MIGRATIONS = Path(__file__).parents[1] / "src" / "notify_svc" / "migrations"
WHEN = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)


# A staff user with an address, for emails "to the assignee".
ASSIGNEE = StaffToken(user="ann", rights=["admin"], email="ann.staff@example.org", name="Ann")
SMTP_TIMEOUT_S = 3.0


@dataclass
class Delivery:
    """One DATA the server saw: who it was for, its bytes, the reply it gave, and the
    number of the connection it came over."""

    rcpts: list[str]
    raw: bytes
    message: EmailMessage
    reply: str
    connection: int

    @property
    def accepted(self) -> bool:
        return self.reply.startswith("250")


@dataclass
class Mailbox:
    """An SMTP server's handler: keeps every message it sees. Per recipient address it can
    refuse RCPT (``refusals``), answer DATA with queued replies (``data_replies``, one per
    message, then 250), wait before answering (``data_delays``, one per message) or until
    an event is set (``data_holds``). ``connections`` counts the connections accepted."""

    port: int = 0
    connections: int = 0
    seen: list[Delivery] = field(default_factory=list)
    # address -> the reply to RCPT TO
    refusals: dict[str, str] = field(
        default_factory=lambda: {
            "bounce@example.org": "550 5.1.1 no such user",
            "later@example.org": "451 4.3.0 try again later",
        }
    )
    data_replies: dict[str, list[str]] = field(default_factory=dict)
    data_delays: dict[str, list[float]] = field(default_factory=dict)
    data_holds: dict[str, threading.Event] = field(default_factory=dict)

    def connected(self) -> int:
        """A connection was accepted: its number."""
        self.connections += 1
        return self.connections

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refusals:
            return self.refusals[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        rcpts = list(envelope.rcpt_tos)
        reply = next((self.data_replies[r].pop(0) for r in rcpts if self.data_replies.get(r)), "")
        delay = next((self.data_delays[r].pop(0) for r in rcpts if self.data_delays.get(r)), 0)
        raw = bytes(envelope.original_content)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        connection = getattr(server, "connection", 0)
        self.seen.append(Delivery(rcpts, raw, message, reply or "250 Message accepted", connection))
        await asyncio.sleep(delay)  # the client may give up meanwhile: it got the data, though
        for hold in [self.data_holds.pop(r) for r in rcpts if r in self.data_holds]:
            # A threading.Event: the test sets it from another thread than the server's.
            await asyncio.to_thread(hold.wait, 30)
        return reply or "250 Message accepted"

    @property
    def received(self) -> list[Delivery]:
        return [d for d in self.seen if d.accepted]

    def to(self, address: str) -> list[EmailMessage]:
        return [d.message for d in self.received if address in d.rcpts]

    def all_to(self, address: str) -> list[Delivery]:
        """Every DATA for ``address``, accepted or not."""
        return [d for d in self.seen if address in d.rcpts]


class NumberingController(Controller):
    """aiosmtpd makes one SMTP protocol object per connection: each gets a number."""

    def factory(self):
        server = super().factory()
        server.connection = self.handler.connected()
        return server


class SmtpServer:
    """The mailbox served on its port; stop() and start() again (a fresh controller: a
    stopped one cannot restart)."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = NumberingController(
            self.mailbox, hostname="127.0.0.1", port=self.mailbox.port
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def case_opened(
    *, subject: str = "Noise at night", assignee: str | None = None, **client: Any
) -> Envelope[Any]:
    contact = contact_state(
        **{"last_name": "Lovelace", "email": f"{uuid.uuid4().hex[:8]}@example.org", **client}
    )
    case = case_state(
        at=WHEN,
        subject=subject,
        assignee=assignee,
        clients=[contact],
        custom={"ward": "North"},
        start_date=date(2025, 3, 3),
    )
    return case_event(case)


def case_updated(opened: Envelope[Any], **changes: Any) -> Envelope[Any]:
    """The next version of ``opened``'s case, with ``changes``."""
    before = opened.data["case"]
    case = CaseState(**{**before, **changes, "version": before["version"] + 1})
    return case_event(case, CASE_UPDATED)


def send_email(case_id: Any, *, envelope_id: Any = None, **fields: Any) -> Envelope[Any]:
    command = SendEmail(**{"notification_id": uuid.uuid4(), "case_id": case_id, **fields})
    return new_envelope(
        type=SEND_EMAIL,
        source="automation-svc",
        subject=str(case_id),
        data=command,
        id=envelope_id or command.notification_id,
    )


def activity(case_id: Any, **fields: Any) -> dict[str, Any]:
    """An activity's state as activity.events carries it."""
    state = activity_state(
        case_id, **{"at": WHEN, "status": "completed", "occurred_at": WHEN, **fields}
    )
    return state.model_dump(mode="json")


class NotifyService(ServiceHarness[Settings]):
    """The harness, plus the SMTP server it sends through and its mailbox."""

    def __init__(self, *, smtp_server: SmtpServer, **harness: Any) -> None:
        super().__init__(**harness)
        self.smtp_server = smtp_server
        self.mailbox = smtp_server.mailbox

    case_opened = staticmethod(case_opened)
    case_updated = staticmethod(case_updated)
    send_email = staticmethod(send_email)
    activity = staticmethod(activity)

    async def emails(self, **params: Any) -> list[dict]:
        response = await self.client.get("/emails", params=params, headers=STAFF_HEADERS)
        assert response.status_code == 200, response.text
        return response.json()["items"]


@pytest.fixture(scope="session")
def mailbox() -> Mailbox:
    return Mailbox(port=devinfra.free_port())


@pytest.fixture(scope="session")
def smtp_server(mailbox: Mailbox) -> Iterator[SmtpServer]:
    server = SmtpServer(mailbox)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def sending_through(server_fixture: str) -> Callable[[pytest.FixtureRequest], dict[str, Any]]:
    """``service_fixture``'s ``arguments_from``: notify-svc sending through the SmtpServer
    the fixture ``server_fixture`` serves (quick delivery retries), a NotifyService holding
    it."""

    def arguments(request: pytest.FixtureRequest) -> dict[str, Any]:
        server: SmtpServer = request.getfixturevalue(server_fixture)
        return dict(
            harness=functools.partial(NotifyService, smtp_server=server),
            smtp_host="127.0.0.1",
            smtp_port=server.mailbox.port,
            delivery_poll_interval_s=0.1,
            send_backoff_initial_s=0.2,
        )

    return arguments


service = service_fixture(
    create_app,
    Settings,
    MIGRATIONS,
    name="notify",
    arguments_from=sending_through("smtp_server"),
    smtp_timeout_s=SMTP_TIMEOUT_S,
    # Retries 0.2, 0.4, 0.8, 1.6 s apart (+-50%): long enough to restart a stopped server.
    send_max_attempts=5,
    unknown_case_retry_s=0.2,
    staff_tokens={STAFF_TOKEN: ADMIN, "ann-token": ASSIGNEE},
)


# STARTTLS (test_notify_starttls.py): a second app, its own server settings.


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (needs the openssl CLI)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class StartTlsServer(SmtpServer):
    """Offers STARTTLS and refuses mail before it."""

    def __init__(self, mailbox: Mailbox, certificate: tuple[Path, Path]) -> None:
        super().__init__(mailbox)
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(*certificate)

    def start(self) -> None:
        self._controller = NumberingController(
            self.mailbox,
            hostname="127.0.0.1",
            port=self.mailbox.port,
            tls_context=self.context,
            require_starttls=True,
        )
        self._controller.start()


@pytest.fixture(scope="module")
def tls_server(certificate: tuple[Path, Path]) -> Iterator[StartTlsServer]:
    server = StartTlsServer(Mailbox(port=devinfra.free_port()), certificate)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# notify-svc sending through the STARTTLS server, accepting its self-signed certificate
# (production keeps smtp_tls_verify=True).
tls_service = service_fixture(
    create_app,
    Settings,
    MIGRATIONS,
    scope="module",
    name="notify",
    arguments_from=sending_through("tls_server"),
    smtp_tls="starttls",
    smtp_tls_verify=False,
    smtp_timeout_s=5,
    send_max_attempts=2,
)
