"""notify-svc hears ``notify.commands`` and says ``notify.events``."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, Field

from casestream.contracts.activity import ActivityState
from casestream.contracts.commands import Command, CommandEnvelope, registry
from casestream.contracts.events import EventEnvelope, event_types
from casestream.contracts.inputs import Line, Text, storable_json
from casestream.contracts.sales import InvoiceState, QuotationState

SEND_EMAIL = "notify.send_email"
EMAIL_SENT = "notify.email_sent"
EMAIL_FAILED = "notify.email_failed"
EMAIL_SUPPRESSED = "notify.email_suppressed"
TEMPLATE_SAVED = "notify.template_saved"  # on notify.templates
EMAIL_EVENT_TYPES = (EMAIL_SENT, EMAIL_FAILED, EMAIL_SUPPRESSED)
TEMPLATE_EVENT_TYPES = (TEMPLATE_SAVED,)


def _an_activity_state(value: dict[str, Any]) -> dict[str, Any]:
    ActivityState.model_validate(value)  # raises, naming the field
    storable_json(value)
    return value


# An activity's state as activity.events carries it (``ActivityState``), kept as the JSON
# object it came as: notify-svc stores it as is and renders ``{{ activity.* }}`` from it.
ActivitySnapshot = Annotated[
    dict[str, Any],
    AfterValidator(_an_activity_state),
    Field(description="an ActivityState, as activity.events carries it"),
]


def _a_state_of(model: type[BaseModel]) -> Any:
    def check(value: dict[str, Any]) -> dict[str, Any]:
        model.model_validate(value)
        storable_json(value)
        return value

    return AfterValidator(check)


# A quotation or invoice as sales.events carries it: the ``{{ quotation.* }}`` and
# ``{{ invoice.* }}`` tokens.
QuotationSnapshot = Annotated[
    dict[str, Any],
    _a_state_of(QuotationState),
    Field(description="a QuotationState, as sales.events carries it"),
]
InvoiceSnapshot = Annotated[
    dict[str, Any],
    _a_state_of(InvoiceState),
    Field(description="an InvoiceState, as sales.events carries it"),
]

MAX_ATTACHMENT_BYTES = 512 * 1024  # the whole command must fit one Kafka message (1 MB)


def _base64(value: str) -> str:
    try:
        content = base64.b64decode(value, validate=True)
    except binascii.Error as error:
        raise ValueError("not base64") from error
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise ValueError(f"larger than {MAX_ATTACHMENT_BYTES} bytes")
    return value


class Attachment(BaseModel):
    """A file sent with the email (a quotation's PDF), its bytes in base64."""

    filename: Line = Field(min_length=1, max_length=200)
    content_type: str = Field(pattern=r"^[a-z]+/[a-z0-9.+-]+$", max_length=100)
    content_base64: Annotated[str, AfterValidator(_base64)]


class SendEmail(Command):
    """Send one logical email. ``notification_id`` is chosen by the sender and is
    deterministic (a rule firing's action id), so a repeated command sends nothing twice."""

    command_type: ClassVar[str] = SEND_EMAIL

    notification_id: uuid.UUID
    case_id: uuid.UUID
    # Contact ids, "clients", "assignee" (the case's responsible user), a role name, or
    # plain addresses.
    # Text, not Line: a recipient or subject with a line break is not refused here but
    # neutralised when the email is drafted (unresolved, folded), as it always was.
    to: list[Text] = Field(default_factory=lambda: ["clients"])
    template: Line | None = None
    subject: Text | None = None
    body_text: Text | None = None
    requested_by: Line | None = None
    # The activity that triggered the rule, as it stood when the email was asked for: the
    # ``{{ activity.* }}`` tokens.
    activity: ActivitySnapshot | None = None
    # The quotation the email is about: the ``{{ quotation.* }}`` tokens.
    quotation: QuotationSnapshot | None = None
    invoice: InvoiceSnapshot | None = None  # the ``{{ invoice.* }}`` tokens
    attachments: list[Attachment] = Field(default_factory=list, max_length=5)


class RecipientState(BaseModel):
    address: str
    contact_id: str | None = None
    name: str | None = None
    suppressed: bool = False


class EmailState(BaseModel):
    """An email's full state. ``to`` names who it went to (contact ids where known, else
    addresses). The fields after ``sent_at`` came later: an older event reads as their
    defaults."""

    id: uuid.UUID
    notification_id: uuid.UUID
    case_id: uuid.UUID | None = None
    to: list[str]
    subject: str
    body_text: str | None = None
    status: Literal["queued", "sent", "failed", "suppressed"]
    message_id: str
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = None
    template: str | None = None
    recipients: list[RecipientState] = Field(default_factory=list)
    body_html: str | None = None
    created_at: datetime | None = None


class EmailEvent(BaseModel):
    email: EmailState


class TemplateSaved(BaseModel):
    """A template as saved, so other services (automation-svc) can check rules naming it."""

    name: str
    subject: str
    body_text: str
    body_html: str | None = None
    updated_at: datetime


NOTIFY_COMMAND_MODELS = registry(SendEmail)


class SendEmailEnvelope(CommandEnvelope[SendEmail]):
    """``notify.commands``: ``notify.send_email`` is its one command (``NOTIFY_COMMAND_MODELS``)."""

    COMMANDS: ClassVar[Mapping[str, type[Command]]] = NOTIFY_COMMAND_MODELS


class TemplateEnvelope(EventEnvelope[TemplateSaved]):
    """``notify.templates``: ``notify.template_saved``."""

    TYPES: ClassVar[frozenset[str]] = event_types(*TEMPLATE_EVENT_TYPES)


class EmailEnvelope(EventEnvelope[EmailEvent]):
    """``notify.events``: one of ``EMAIL_EVENT_TYPES``."""

    TYPES: ClassVar[frozenset[str]] = event_types(*EMAIL_EVENT_TYPES)
