"""STARTTLS: notify-svc upgrades the connection before handing over a message, to a server
that refuses mail in clear text. The server's certificate is self-signed, so this app runs
with ``smtp_tls_verify=False``; production keeps the default (True), and a check shows a
verifying client refuses that certificate. This module runs its own app (its own server
settings), on its own database and topics: the fixtures are in conftest.py."""

from __future__ import annotations

import shutil

import pytest

from casestream import topics
from casestream.testing.plugin import eventually
from notify_svc import smtp
from notify_svc.config import Settings

pytestmark = pytest.mark.skipif(
    shutil.which("openssl") is None,
    reason="the openssl CLI is needed to make the STARTTLS server's self-signed certificate",
)


async def test_an_email_goes_out_over_starttls(tls_service):
    service = tls_service
    opened = service.case_opened()
    case = opened.data["case"]
    await service.deliver(topics.CASE_EVENTS, opened)
    await service.deliver(
        topics.NOTIFY_COMMANDS,
        service.send_email(case["id"], subject="Secure {{ case.subject }}", body_text="Hi"),
    )

    async def final():
        found = await service.emails(case_id=case["id"])
        return found if found and found[0]["status"] != "queued" else None

    [email] = await eventually(final)
    assert (email["status"], email["attempts"]) == ("sent", 1), email["last_error"]
    [message] = service.mailbox.to(case["clients"][0]["email"])
    assert message["Subject"] == "Secure Noise at night"


async def test_a_verifying_client_refuses_the_self_signed_certificate(tls_service):
    checking = tls_service.settings.model_copy(update={"smtp_tls_verify": True})
    assert Settings.model_fields["smtp_tls_verify"].default is True
    [failure] = await smtp.send_each(
        checking, "noreply@casestream.local", [(b"Subject: x\r\n\r\nx\r\n", ["a@example.org"])]
    )
    assert isinstance(failure, smtp.DeliveryFailed)
    assert "certificate" in str(failure).lower() and not failure.permanent
