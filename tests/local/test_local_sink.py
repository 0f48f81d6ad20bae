"""The local stack's own parts, without the services: the SMTP sink (in-process and as a
process), the infrastructure ``Stack.up()``/``down()`` starts and stops (embedded PostgreSQL,
Tansu, topics, the sink), and the demo loader's rules."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import smtplib
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from casestream import devinfra
from casestream.topics import topic_specs
from casestream_local.demo import DemoError, DemoRequest, load_demo, read_demo
from casestream_local.processes import ProcessRecord, StackState, is_running
from casestream_local.smtp_sink import SmtpSink
from casestream_local.stack import SERVICES, Stack, StackConfig


def _email(to: str = "ada@example.org", subject: str = "We received your message") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "casework@example.org"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = "<ack-1@casestream.test>"
    message.set_content("Dear Ada,\nthank you.")
    message.add_alternative("<p>Dear Ada,</p><p>thank you.</p>", subtype="html")
    return message


async def _eml_files(folder: Path) -> list[Path]:
    return await asyncio.to_thread(lambda: list(folder.glob("*.eml")))


def _send(port: int, message: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.send_message(message)


async def test_sink_lists_a_delivered_message_with_its_bodies(tmp_path: Path) -> None:
    async with (
        SmtpSink(0, 0, folder=tmp_path) as sink,
        httpx.AsyncClient(base_url=sink.http_url) as http,
    ):
        await asyncio.to_thread(_send, sink.smtp_port, _email())
        await asyncio.to_thread(_send, sink.smtp_port, _email("bob@example.org", "Second"))

        listed = (await http.get("/messages")).json()
        assert [m["subject"] for m in listed] == ["We received your message", "Second"]
        first = listed[0]
        assert first["from"] == "casework@example.org"
        assert first["to"] == ["ada@example.org"]
        assert first["message_id"] == "<ack-1@casestream.test>"

        detail = (await http.get(f"/messages/{first['id']}")).json()
        assert detail["text"] == "Dear Ada,\nthank you.\n"
        assert detail["html"] == "<p>Dear Ada,</p><p>thank you.</p>\n"
        assert detail["headers"]["Subject"] == "We received your message"
        assert "multipart/alternative" in detail["headers"]["Content-Type"]
        raw = await http.get(f"/messages/{first['id']}/raw")
        assert raw.headers["content-type"].startswith("message/rfc822")
        assert b"Subject: We received your message" in raw.content

        only_bob = (await http.get("/messages", params={"to": "BOB@example.org"})).json()
        assert [m["subject"] for m in only_bob] == ["Second"]
        after_first = (await http.get("/messages", params={"since": first["received_at"]})).json()
        assert [m["subject"] for m in after_first] == ["Second"]
        assert (await http.get("/messages/nope")).status_code == 404


async def test_sink_keeps_messages_across_restarts_until_deleted(tmp_path: Path) -> None:
    async with SmtpSink(0, 0, folder=tmp_path) as sink:
        await asyncio.to_thread(_send, sink.smtp_port, _email())
    assert len(await _eml_files(tmp_path)) == 1

    async with (
        SmtpSink(0, 0, folder=tmp_path) as sink,
        httpx.AsyncClient(base_url=sink.http_url) as http,
    ):
        listed = (await http.get("/messages")).json()
        assert [m["to"] for m in listed] == [["ada@example.org"]]
        detail = (await http.get(f"/messages/{listed[0]['id']}")).json()
        assert detail["text"] == "Dear Ada,\nthank you.\n"

        assert (await http.delete("/messages")).json() == {"deleted": 1}
        assert (await http.get("/messages")).json() == []
    assert await _eml_files(tmp_path) == []


def test_sink_runs_as_a_process(tmp_path: Path) -> None:
    smtp_port, http_port = devinfra.free_ports(2)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "casestream_local.smtp_sink",
            "--smtp-port",
            str(smtp_port),
            "--http-port",
            str(http_port),
            "--folder",
            str(tmp_path / "mail"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        devinfra.wait_for_port("127.0.0.1", http_port, 20)
        _send(smtp_port, _email())
        listed = httpx.get(f"http://127.0.0.1:{http_port}/messages").json()
        assert [m["subject"] for m in listed] == ["We received your message"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    assert len(list((tmp_path / "mail").glob("*.eml"))) == 1


def test_sink_usable_from_synchronous_code() -> None:
    with SmtpSink(0, 0) as sink:
        with smtplib.SMTP("127.0.0.1", sink.smtp_port, timeout=10) as smtp:
            smtp.login("notify-svc", "any password")  # a sink takes any login
            smtp.send_message(_email())
        assert len(httpx.get(f"{sink.http_url}/messages").json()) == 1


def _infra_config(tmp_path: Path) -> StackConfig:
    postgres_port, kafka_port, smtp_port, smtp_http_port = devinfra.free_ports(4)
    return StackConfig(
        data_dir=tmp_path / "data",
        services=(),
        load_demo=False,
        database_url=None,
        postgres_port=postgres_port,
        kafka_bootstrap=None,
        kafka_port=kafka_port,
        smtp_port=smtp_port,
        smtp_http_port=smtp_http_port,
        topic_prefix="local-test.",
    )


async def _topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


def test_stack_infrastructure_up_twice_then_down(tmp_path: Path) -> None:
    config = _infra_config(tmp_path)
    stack = Stack(config, echo=lambda _: None)
    try:
        started = time.monotonic()
        info = stack.up()
        assert time.monotonic() - started < 60

        database_url = info["database_url"]
        # Its own server: by the Unix socket in its data folder (or TCP where that path would
        # be too long for a socket).
        port = config.postgres_port
        assert database_url in (
            f"postgresql://postgres@/postgres?host={config.data / 'postgres'}&port={port}",
            f"postgresql://postgres@127.0.0.1:{port}/postgres",
        )

        async def query() -> int:
            conn = await asyncpg.connect(database_url)
            try:
                return await conn.fetchval("SELECT 1")
            finally:
                await conn.close()

        assert asyncio.run(query()) == 1
        expected = {"local-test." + s.name for s in topic_specs()}
        assert expected <= asyncio.run(_topics(info["kafka_bootstrap"]))
        assert "local-test.case.events.dlq" in expected
        assert httpx.get(f"{info['smtp_http']}/messages").json() == []

        recorded = json.loads((config.data / "stack.json").read_text())["processes"]
        pids = {r["name"]: r["pid"] for r in recorded}
        assert set(pids) == {"postgres", "tansu", "smtp-sink"}

        # A second up reuses every piece: same processes, nothing new.
        again = Stack(config, echo=lambda _: None)
        again.up()
        assert {n: r.pid for n, r in again.state.processes.items()} == pids
        assert all(row["running"] for row in again.status())
    finally:
        stopped = Stack(config, echo=lambda _: None).down()
    assert set(stopped) == {"postgres", "tansu", "smtp-sink"}
    for port in (config.postgres_port, config.kafka_port, config.smtp_port, config.smtp_http_port):
        assert not devinfra.port_open("127.0.0.1", port), port
    assert not (config.data / "postgres" / "postmaster.pid").exists()
    assert not (config.data / "stack.json").exists()
    assert Stack(config, echo=lambda _: None).down() == []


def test_down_stops_only_what_it_recorded(tmp_path: Path) -> None:
    ours = subprocess.Popen(["sleep", "60"], start_new_session=True)
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        state = StackState(tmp_path / "stack.json")
        from casestream_local.processes import start_time

        state.record(ProcessRecord("smtp-sink", ours.pid, "sleep", start_time(ours.pid)))
        # The stranger got a recorded pid, but not the recorded process's start time: a reused
        # pid must not be killed.
        state.record(ProcessRecord("tansu", stranger.pid, "sleep", started="1"))
        assert not is_running(state.processes["tansu"])

        Stack(StackConfig(data_dir=tmp_path), echo=lambda _: None).down()
        assert ours.wait(10) == -signal.SIGTERM
        assert stranger.poll() is None
    finally:
        for proc in (ours, stranger):
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _demo_transport(answers: dict[tuple[str, str], list[int]], seen: list[str]):
    def handle(request: httpx.Request) -> httpx.Response:
        key = (request.method, f"{request.url.host}:{request.url.port}{request.url.path}")
        seen.append(f"{key[0]} {key[1]} {request.headers['authorization']}")
        codes = answers[key]
        return httpx.Response(codes.pop(0) if len(codes) > 1 else codes[0], json={"detail": "x"})

    return httpx.MockTransport(handle)


def test_demo_loader_counts_409_on_post_as_done_and_retries_then_names_failure() -> None:
    requests = [
        DemoRequest("case-svc", "POST", "/case-statuses", {"name": "open"}),
        DemoRequest("intake-svc", "PUT", "/forms/contact", {"title": "Contact us"}),
        DemoRequest("notify-svc", "PUT", "/templates/acknowledgement", {}),
    ]
    urls = {"case-svc": "http://c:1", "intake-svc": "http://i:2", "notify-svc": "http://n:3"}
    answers = {
        ("POST", "c:1/case-statuses"): [409],
        ("PUT", "i:2/forms/contact"): [422, 200],  # the case type arrives a moment later
        ("PUT", "n:3/templates/acknowledgement"): [500],
    }
    seen: list[str] = []
    with (
        httpx.Client(transport=_demo_transport(answers, seen)) as client,
        pytest.raises(
            DemoError, match=r"PUT notify-svc/templates/acknowledgement failed: HTTP 500"
        ),
    ):
        load_demo(requests, urls, "tok", client=client, retry_s=0.6, echo=lambda _: None)
    assert seen[0] == "POST c:1/case-statuses Bearer tok"
    assert seen[1:3] == ["PUT i:2/forms/contact Bearer tok"] * 2


def test_demo_file_addresses_only_known_services() -> None:
    requests = read_demo()
    assert requests
    assert {r.service for r in requests} <= {s.name for s in SERVICES}
    assert all(r.method in {"POST", "PUT"} for r in requests)


def test_cli_status_with_nothing_started(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from casestream_local.__main__ import main

    main(["--data-dir", str(tmp_path), "status"])
    assert "Nothing recorded as running" in capsys.readouterr().out


def test_service_env_carries_each_setting() -> None:
    config = StackConfig(
        data_dir=Path("/nonexistent"), smtp_port=2525, staff_token="t0k", topic_prefix="p."
    )
    stack = Stack(config, echo=lambda _: None)
    stack.state.info |= {
        "database_url": "postgresql://postgres@127.0.0.1:5999/postgres",
        "kafka_bootstrap": "127.0.0.1:9999",
    }
    env = stack.service_env(next(s for s in SERVICES if s.name == "notify-svc"))
    assert env["NOTIFY_SVC_DATABASE_URL"] == (
        "postgresql+asyncpg://postgres@127.0.0.1:5999/casestream_notify"
    )
    assert env["NOTIFY_SVC_KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:9999"
    assert env["NOTIFY_SVC_KAFKA_ENABLE_IDEMPOTENCE"] == "false"
    assert env["NOTIFY_SVC_TOPIC_PREFIX"] == "p."
    assert env["NOTIFY_SVC_HTTP_PORT"] == "8040"
    assert json.loads(env["NOTIFY_SVC_STAFF_TOKENS"]) == {
        "t0k": {"user": "admin", "rights": ["admin"]}
    }
    assert env["NOTIFY_SVC_SMTP_PORT"] == "2525"
    assert env["PATH"] == os.environ["PATH"]
