"""A service that cannot start says why in one line (a setting and what is wrong with it, or
the database it cannot reach) and exits with status 2: no traceback for an operator to read
through in a crash-looping pod's log. A secret is never echoed back."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from casestream import devinfra


def start(module: str, command: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, command],
        env=os.environ | {"CASESTREAM_LOG_JSON": "false"} | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    return lines[0]


def test_bad_settings_are_named_with_what_is_wrong():
    line = one_line(
        start("case_svc", "serve", CASE_SVC_HTTP_PORT="eighty", CASE_SVC_KAFKA_ACKS="some")
    )
    assert line.startswith("case-svc: cannot start: ")
    assert "CASE_SVC_HTTP_PORT: Input should be a valid integer" in line
    assert "(given: 'eighty')" in line
    assert "CASE_SVC_KAFKA_ACKS" in line


def test_a_secret_that_is_wrong_is_not_shown():
    line = one_line(start("notify_svc", "serve", NOTIFY_SVC_STAFF_TOKENS='{"s3cr3t": oops'))
    assert "NOTIFY_SVC_STAFF_TOKENS" in line
    assert "s3cr3t" not in line


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_an_unreachable_database_is_said_in_one_line(command):
    port = devinfra.free_ports(1)[0]  # nothing listens there
    url = f"postgresql+asyncpg://casestream:hunter2@127.0.0.1:{port}/casestream_activity"
    line = one_line(start("activity_svc", command, ACTIVITY_SVC_DATABASE_URL=url))
    assert line.startswith("activity-svc: cannot start: no database at ")
    assert f"127.0.0.1:{port}" in line
    assert "hunter2" not in line


def test_intake_refuses_to_start_without_a_form_secret(postgres_server_url):
    line = one_line(
        start(
            "intake_svc",
            "serve",
            INTAKE_SVC_DATABASE_URL=postgres_server_url.replace(
                "postgresql://", "postgresql+asyncpg://"
            ),
            INTAKE_SVC_FORM_SECRET="",
        )
    )
    assert "INTAKE_SVC_FORM_SECRET must be set" in line
