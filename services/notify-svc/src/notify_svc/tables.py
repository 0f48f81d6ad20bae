"""notify-svc's own tables: templates, outgoing emails, and a read model of cases and
contacts (learnt from case-svc's events) to render and address them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from casestream.persistence.read_models import cases_table

metadata = sa.MetaData()


def _now() -> sa.Column:
    return sa.func.now()


templates = sa.Table(
    "templates",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("body_text", sa.Text, nullable=False),
    sa.Column("body_html", sa.Text),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
)

cases = cases_table(metadata)

contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("state", JSONB, nullable=False),  # ContactState
    # True once the contact's own events spoke: a case's copy no longer overwrites it.
    sa.Column("from_contact_events", sa.Boolean, nullable=False, server_default=sa.false()),
)

emails = sa.Table(
    "emails",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    # Chosen by the requester: the same notification is one email however often asked for.
    sa.Column("notification_id", UUID(as_uuid=True), nullable=False, unique=True),
    sa.Column("case_id", UUID(as_uuid=True)),
    sa.Column("template", sa.Text),
    sa.Column("to_spec", JSONB, nullable=False),
    sa.Column("recipients", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    sa.Column("subject", sa.Text),
    sa.Column("body_text", sa.Text),
    sa.Column("body_html", sa.Text),
    sa.Column("status", sa.Text, nullable=False),  # queued, sent, failed, suppressed
    sa.Column("message_id", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
    sa.Column("requested_by", sa.Text),
    sa.Column("correlation_id", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    # The triggering activity's state (ActivityState as JSON): the {{ activity.* }} tokens.
    sa.Column("activity", JSONB),
    # The message exactly as first handed to the server, kept before that first attempt:
    # every retry sends these bytes (the same letter, never a re-rendered one).
    sa.Column("raw_message", sa.LargeBinary),
    # Recipients that could not be resolved, with why (kept for the final record).
    sa.Column("unresolved", sa.Text),
    # When the SMTP server took the letter (and what it refused), written the moment it said
    # so, before the batch's outcomes: a worker that dies in between leaves it known as sent.
    sa.Column("accepted_at", sa.DateTime(timezone=True)),
    # The quotation the email is about (QuotationState as JSON): the {{ quotation.* }} tokens.
    sa.Column("quotation", JSONB),
    sa.Column("invoice", JSONB),  # likewise, InvoiceState: the {{ invoice.* }} tokens
    # Files sent with it: filename, content_type, content_base64 (a quotation's PDF).
    sa.Column("attachments", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
)
# The delivery worker claims due queued emails through this index.
sa.Index("emails_due", emails.c.next_attempt_at, postgresql_where=emails.c.status == "queued")
sa.Index("emails_case", emails.c.case_id, emails.c.created_at, emails.c.id)
sa.Index("emails_created", emails.c.created_at, emails.c.id)
