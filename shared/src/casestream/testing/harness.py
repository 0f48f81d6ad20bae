"""One harness for every service's tests: the service running for real (its system topics
under a fresh prefix, a migrated database, settings with quick timings, its lifespan with
consumers, relay and workers) behind an httpx client, a producer to put messages on its
input topics, and read-backs of what it said.

The scope rule: one running app per service per test session (a session-scoped ``service``
fixture in the service's conftest, made with ``service_fixture``). Starting an app costs
seconds (each consumer group join on Tansu), so tests never get one each: they keep apart by
their own ids, slugs and names, and read only what is about those (read-backs take the keys
a test made). A test module that needs different settings starts its own app the same way
(``service_fixture(..., scope="module")``, or ``start_service`` itself); nothing else starts
an app.

Read-backs never take "not yet" for "not sent": ``said`` waits for what is expected (and a
grace more, so that a surplus shows) and fails naming what did arrive; to show that nothing
was sent, ``said_until`` reads up to a marker the test caused after it.

    # conftest.py
    service = service_fixture(create_app, Settings, MIGRATIONS, name="notify", smtp_port=25)

    # a test
    async def test_it_says_so(service):
        await service.deliver(topics.CASE_EVENTS, case_event(case_state()))
        [event] = await service.said(topics.NOTIFY_EVENTS, case_id, expected=1)
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Generic, Literal, ParamSpec, TypeVar

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from casestream.envelope import Envelope
from casestream.persistence.database import Database
from casestream.settings import ServiceSettings
from casestream.testing.plugin import records_on, records_to_end
from casestream.testing.plugin import records_until as records_up_to_marker
from casestream.testing.services import (
    STAFF_HEADERS,
    create_system_topics,
    dead_letter_topic,
    migrated_database,
    running,
    settings_for_tests,
)

S = TypeVar("S", bound=ServiceSettings)
H = TypeVar("H", bound="ServiceHarness[Any]")
P = ParamSpec("P")

Keys = str | object | Iterable[str | object] | None


def _keys(keys: Keys) -> set[str] | None:
    """``"a"``, a UUID, or several of them: the record keys (str) to read."""
    if keys is None:
        return None
    if isinstance(keys, str) or not isinstance(keys, Iterable):
        return {str(keys)}
    return {str(k) for k in keys}


def body(record: Any) -> Any:
    """A record's value, decoded from JSON."""
    return json.loads(record.value)


def _decoded(
    read: Callable[P, Awaitable[list[Any]]], doc: str
) -> Callable[P, Awaitable[list[Any]]]:
    """``read`` (a read-back of records) returning the records' values decoded instead,
    with ``doc`` as its docstring."""

    @functools.wraps(read)
    async def decoded(*args: P.args, **kwargs: P.kwargs) -> list[Any]:
        return [body(r) for r in await read(*args, **kwargs)]

    decoded.__doc__ = doc
    return decoded


class ServiceHarness(Generic[S]):
    """A running service: ``client`` talks to its app over ASGI (with the staff headers if
    ``staff=True`` was given to ``start_service``); ``deliver`` puts messages on its
    topics as their owners would; ``said``/``said_until``/``dead_letters`` read topics."""

    def __init__(
        self,
        *,
        app: FastAPI,
        settings: S,
        client: httpx.AsyncClient,
        producer: AIOKafkaProducer,
        kafka_bootstrap: str,
    ) -> None:
        self.app = app
        self.settings = settings
        self.client = client
        self.producer = producer
        self.kafka_bootstrap = kafka_bootstrap

    @property
    def database(self) -> Database:
        database: Database = self.app.state.runtime.database
        return database

    def topic(self, name: str) -> str:
        """The prefixed name of the system topic ``name`` (``case.events``)."""
        return self.settings.topic(name)

    async def deliver(
        self,
        topic: str,
        envelope: Envelope[Any] | dict[str, Any] | bytes,
        key: str | None = None,
        times: int = 1,
    ) -> None:
        """Put ``envelope`` on the system topic ``topic`` (unprefixed), keyed by ``key`` or
        its subject, ``times`` times. Raw bytes (a poison message) need a ``key``."""
        if isinstance(envelope, bytes):
            raw, subject = envelope, key
        elif isinstance(envelope, Envelope):
            raw, subject = json.dumps(envelope.model_dump(mode="json")).encode(), envelope.subject
        else:
            raw, subject = json.dumps(envelope).encode(), envelope.get("subject")
        if (key or subject) is None:
            raise ValueError("a message without a subject needs a key")
        for _ in range(times):
            await self.producer.send_and_wait(
                self.topic(topic), raw, key=str(key or subject).encode()
            )

    async def records(
        self,
        topic: str,
        keys: Keys,
        expected: int,
        timeout_s: float = 15.0,
        grace_s: float = 1.0,
        match: Callable[[Any], bool] | None = None,
    ) -> list[Any]:
        """The records (not decoded) on ``topic`` keyed by ``keys``: see ``said``."""
        return await records_on(
            self.kafka_bootstrap,
            self.topic(topic),
            expected=expected,
            timeout_s=timeout_s,
            keys=_keys(keys),
            grace_s=grace_s,
            match=match,
        )

    said = _decoded(
        records,
        """The messages (decoded JSON) on ``topic`` keyed by ``keys`` (one or several
        subjects; None: all), once ``expected`` have arrived and ``grace_s`` more has passed
        so that a surplus shows. Fewer within ``timeout_s`` fail.""",
    )

    async def records_until(
        self,
        topic: str,
        marker: str | Callable[[Any], bool],
        keys: Keys = None,
        timeout_s: float = 20.0,
        match: Callable[[Any], bool] | None = None,
    ) -> list[Any]:
        """The records (not decoded) on ``topic`` up to ``marker``: see ``said_until``."""
        return await records_up_to_marker(
            self.kafka_bootstrap,
            self.topic(topic),
            marker,
            timeout_s=timeout_s,
            keys=_keys(keys),
            match=match,
        )

    said_until = _decoded(
        records_until,
        """The messages (decoded JSON) on ``topic`` keyed by ``keys`` read up to ``marker``
        (the record keyed so, or one ``marker(record)`` holds for), but the marker: the test
        sends the marker after what must not have been said, so an absence here means "not
        said". Fails if the marker does not arrive.""",
    )

    async def said_so_far(
        self,
        topic: str,
        keys: Keys = None,
        match: Callable[[Any], bool] | None = None,
    ) -> list[Any]:
        """The records on ``topic`` up to its current end: for when the service's sends are
        known to be done (its outbox is empty), so that an absence means "not sent"."""
        return await records_to_end(
            self.kafka_bootstrap, self.topic(topic), keys=_keys(keys), match=match
        )

    async def dead_letters(
        self,
        topic: str,
        keys: Keys = None,
        expected: int = 1,
        timeout_s: float = 20.0,
        grace_s: float = 0.0,
        match: Callable[[Any], bool] | None = None,
    ) -> list[Any]:
        """The records dead-lettered from ``topic`` (unprefixed): raw, so that their
        ``dlq-reason``/``dlq-error`` headers can be read (``dead_letter_headers``)."""
        return await self.records(
            dead_letter_topic(topic), keys, expected, timeout_s, grace_s, match
        )


def dead_letter_headers(record: Any) -> dict[str, str]:
    """A dead letter's headers (``dlq-reason``, ``dlq-error``...), decoded."""
    return {k: v.decode() for k, v in record.headers}


@contextlib.asynccontextmanager
async def start_service(
    create_app: Callable[[S], FastAPI],
    settings_cls: type[S],
    migrations_path: Path,
    create_database: Callable[[str], Awaitable[str]],
    kafka_bootstrap: str,
    *,
    harness: Callable[..., H] = ServiceHarness,  # type: ignore[assignment]
    name: str | None = None,
    staff: bool = False,
    lifespan: bool = True,
    **setting_overrides: Any,
) -> AsyncIterator[H]:
    """The service running: its system topics under a fresh prefix, a database migrated with
    ``migrations_path``, settings (``settings_for_tests`` with ``setting_overrides``), a
    producer and the app made by ``create_app`` with its lifespan (``lifespan=False``: HTTP
    only, no broker). Yields ``harness(...)`` (a ServiceHarness or a subclass), and tears it
    all down after."""
    prefix = await create_system_topics(kafka_bootstrap)
    database_name = name or settings_cls.model_fields["service_name"].default or "svc"
    url = await migrated_database(create_database, str(database_name), migrations_path)
    settings = settings_for_tests(
        settings_cls,
        database_url=url,
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=prefix,
        **setting_overrides,
    )
    app = create_app(settings)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        async with contextlib.AsyncExitStack() as stack:
            if lifespan:
                client = await stack.enter_async_context(running(app))
            else:
                transport = httpx.ASGITransport(app=app)
                client = await stack.enter_async_context(
                    httpx.AsyncClient(transport=transport, base_url="http://svc")
                )
                stack.push_async_callback(app.state.runtime.database.dispose)
            if staff:
                client.headers.update(STAFF_HEADERS)
            yield harness(
                app=app,
                settings=settings,
                client=client,
                producer=producer,
                kafka_bootstrap=kafka_bootstrap,
            )
    finally:
        await producer.stop()


Scope = Literal["session", "package", "module", "class", "function"]


def service_fixture(
    create_app: Callable[[S], FastAPI],
    settings_cls: type[S],
    migrations_path: Path,
    *,
    scope: Scope = "session",
    ready: Callable[[H], Awaitable[object]] | None = None,
    arguments_from: Callable[[pytest.FixtureRequest], Mapping[str, Any]] | None = None,
    **start_arguments: Any,
) -> Any:
    """A pytest fixture (``scope``, the session's by default) that yields the service
    ``start_service(create_app, settings_cls, migrations_path, ...)`` runs, with the
    ``create_database`` and ``kafka_bootstrap`` fixtures and ``start_arguments`` (``name=``,
    ``harness=``, ``staff=``, settings overrides). A conftest names it by assignment::

        service = service_fixture(create_app, Settings, MIGRATIONS, name="activity")

    ``ready(service)`` is awaited before the service is handed to tests (publish what it
    must know, wait until it does). ``arguments_from(request)`` gives more ``start_service``
    arguments, made from other fixtures when the service starts
    (``request.getfixturevalue("smtp_server")``: a synchronous fixture of a scope at least
    as wide); ``start_arguments`` win over them."""

    @pytest.fixture(scope=scope)
    async def service(
        create_database: Callable[[str], Awaitable[str]],
        kafka_bootstrap: str,
        request: pytest.FixtureRequest,
    ) -> AsyncIterator[H]:
        more = arguments_from(request) if arguments_from is not None else {}
        async with start_service(
            create_app,
            settings_cls,
            migrations_path,
            create_database,
            kafka_bootstrap,
            **{**more, **start_arguments},
        ) as running:
            if ready is not None:
                await ready(running)
            yield running

    return service


__all__ = [
    "STAFF_HEADERS",
    "ServiceHarness",
    "body",
    "dead_letter_headers",
    "service_fixture",
    "start_service",
]
