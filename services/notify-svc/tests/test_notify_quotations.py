"""An email about a quotation: ``{{ quotation.* }}`` tokens (its lines in a loop) render from
the quotation the command carries, and its PDF goes with it as an attachment, the same
bytes on the wire as in the command."""

from __future__ import annotations

import base64
import uuid
from datetime import date

import pytest
from pydantic import ValidationError

from casestream import topics
from casestream.contracts.notify import SendEmail
from casestream.contracts.sales import DocumentLine
from casestream.testing.factories import quotation_state
from casestream.testing.plugin import eventually

PDF = b"%PDF-1.3\n% a tiny stand-in document\n%%EOF\n"


def quotation_on(case_id: str) -> dict:
    line = DocumentLine(
        description="Consulting",
        quantity="3",
        unit_price="333.33",
        discount="10",
        tax_rate="20",
        net="899.99",
        tax="180.00",
        total="1079.99",
    )
    state = quotation_state(
        case_id,
        instance="shop",
        number="Q-2026-0042",
        lines=[line, line.model_copy(update={"description": "More consulting"})],
        subtotal="1799.98",
        tax="360.00",
        total="2159.98",
        valid_until=date(2027, 1, 31),
    )
    return state.model_dump(mode="json")


async def test_a_quotation_email_renders_its_lines_and_carries_its_pdf(service):
    opened = service.case_opened(subject="New roof")
    case, client = opened.data["case"], opened.data["case"]["clients"][0]
    await service.deliver(topics.CASE_EVENTS, opened)
    command = service.send_email(
        case["id"],
        subject="Quotation {{ quotation.number }}: {{ case.subject }}",
        body_text="{% for line in quotation.lines %}{{ line.description }} {{ line.total }}\n"
        "{% endfor %}Total {{ quotation.total }} {{ quotation.currency }}",
        quotation=quotation_on(case["id"]),
        attachments=[
            {
                "filename": "Q-2026-0042.pdf",
                "content_type": "application/pdf",
                "content_base64": base64.b64encode(PDF).decode(),
            }
        ],
    )
    await service.deliver(topics.NOTIFY_COMMANDS, command)

    async def received():
        return service.mailbox.to(client["email"])

    [message] = await eventually(received)
    assert message["Subject"] == "Quotation Q-2026-0042: New roof"
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")  # as on the wire
    assert text == "Consulting 1079.99\nMore consulting 1079.99\nTotal 2159.98 EUR\n"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "Q-2026-0042.pdf"
    assert attachment.get_content() == PDF


async def test_quotation_tokens_without_a_quotation_fail_and_say_why(service):
    opened = service.case_opened()
    await service.deliver(topics.CASE_EVENTS, opened)
    case_id = opened.data["case"]["id"]
    command = service.send_email(case_id, subject="{{ quotation.number }}", body_text="x")
    await service.deliver(topics.NOTIFY_COMMANDS, command)

    async def ended():
        found = await service.emails(case_id=case_id)
        return found if found and found[0]["status"] != "queued" else None

    [email] = await eventually(ended)
    assert email["status"] == "failed"
    assert "quotation tokens, but no quotation" in email["last_error"]


@pytest.mark.parametrize(
    ("attachment", "field"),
    [
        ({"content_base64": "not base64!"}, "content_base64"),
        ({"content_type": "PDF"}, "content_type"),
        ({"filename": ""}, "filename"),
    ],
)
def test_a_bad_attachment_is_refused_naming_its_field(attachment, field):
    good = {"filename": "a.pdf", "content_type": "application/pdf", "content_base64": "JVBERg=="}
    with pytest.raises(ValidationError) as refused:
        SendEmail(
            notification_id=uuid.uuid4(),
            case_id=uuid.uuid4(),
            subject="s",
            body_text="b",
            attachments=[good | attachment],
        )
    assert refused.value.errors()[0]["loc"][-1] == field
