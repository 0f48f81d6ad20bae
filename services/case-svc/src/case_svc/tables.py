"""case-svc's own tables."""

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = sa.MetaData()

now = sa.func.now()

instances = sa.Table(
    "instances",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("singular_label", sa.Text, nullable=False),
    sa.Column("instance_type", sa.Text, nullable=False),
    sa.Column("features", JSONB, nullable=False, server_default="[]"),
    sa.Column("description", sa.Text),
    sa.Column("weight", sa.Integer, nullable=False, server_default="0"),
    sa.Column("icon", sa.Text),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
)

case_statuses = sa.Table(
    "case_statuses",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("grouping", sa.Text, nullable=False),
    sa.Column("weight", sa.Integer, nullable=False, server_default="0"),
    sa.Column("probability", sa.Integer),
)

case_types = sa.Table(
    "case_types",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("instance", sa.Text, sa.ForeignKey("instances.name"), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("definition", JSONB, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
)

# Every published definition stays: open cases keep the version they were opened with.
case_type_versions = sa.Table(
    "case_type_versions",
    metadata,
    sa.Column("name", sa.Text, sa.ForeignKey("case_types.name"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("definition", JSONB, nullable=False),
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
)

contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("contact_type", sa.Text, nullable=False, server_default="individual"),
    sa.Column("first_name", sa.Text),
    sa.Column("last_name", sa.Text),
    sa.Column("display_name", sa.Text),
    sa.Column("email", sa.Text),
    sa.Column("phone", sa.Text),
    sa.Column("do_not_email", sa.Boolean, nullable=False, server_default=sa.false()),
    # Set when this contact was merged into another: it stays, pointing at the survivor.
    sa.Column("merged_into", UUID(as_uuid=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
)
sa.Index("contacts_email_lower", sa.func.lower(contacts.c.email))
# The duplicate-contact rule email_or_name_phone: the same expressions as case_svc.contacts.
sa.Index(
    "contacts_name",
    sa.func.lower(sa.func.btrim(contacts.c.last_name)),
    sa.func.lower(sa.func.btrim(contacts.c.first_name)),
)

cases = sa.Table(
    "cases",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("instance", sa.Text, nullable=False),
    sa.Column("case_type", sa.Text, sa.ForeignKey("case_types.name"), nullable=False),
    sa.Column("case_type_version", sa.Integer, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("details", sa.Text),
    sa.Column("status", sa.Text, sa.ForeignKey("case_statuses.name"), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("assignee", sa.Text),
    sa.Column("custom", JSONB, nullable=False, server_default="{}"),
    sa.Column("tags", JSONB, nullable=False, server_default="[]"),
    sa.Column("start_date", sa.Date, nullable=False),
    sa.Column("end_date", sa.Date),
    sa.Column("next_activity_at", sa.DateTime(timezone=True)),
    sa.Column("source_submission_id", UUID(as_uuid=True), unique=True),
    sa.Column("opportunity", JSONB),
    sa.Column("outcome", sa.Text),
    sa.Column("lost_reason", sa.Text),
    sa.Column("closed_at", sa.DateTime(timezone=True)),
    sa.Column("merged_into", UUID(as_uuid=True)),
    sa.Column("created_by", sa.Text),
    sa.Column(
        "created_at",
        sa.DateTime(timezone=True),
        nullable=False,
        server_default=sa.func.clock_timestamp(),
    ),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
)
sa.Index("cases_list", cases.c.active, cases.c.created_at, cases.c.id)
# Sorts and filters cases_list does not serve (migration 0003).
sa.Index("cases_newest", cases.c.created_at, cases.c.id)
sa.Index("cases_by_update", cases.c.active, cases.c.updated_at, cases.c.id)
sa.Index("cases_by_subject", cases.c.active, cases.c.subject, cases.c.id)
sa.Index("cases_by_start", cases.c.start_date)
sa.Index("cases_by_assignee", cases.c.assignee, cases.c.active, cases.c.created_at, cases.c.id)
sa.Index("cases_by_creator", cases.c.created_by)
sa.Index(
    "cases_tags", cases.c.tags, postgresql_using="gin", postgresql_ops={"tags": "jsonb_path_ops"}
)

# Substring search (ILIKE '%word%') through pg_trgm. The text searched, built once for the
# indexes here and for case_svc.finding's search: the planner uses an index only for the very
# expression it indexed.


def case_text(table: sa.FromClause, space: Any, empty: Any) -> sa.ColumnElement[str]:
    return table.c.subject.op("||")(space).op("||")(sa.func.coalesce(table.c.details, empty))


def contact_text(space: Any, empty: Any) -> sa.ColumnElement[str]:
    text: Any = sa.func.coalesce(contacts.c.first_name, empty)
    for column in (contacts.c.last_name, contacts.c.display_name, contacts.c.email):
        text = text.op("||")(space).op("||")(sa.func.coalesce(column, empty))
    return text


# Literals, not literal_column, in the indexes: an Index takes its table from the first column
# it finds in an expression, and a literal_column is a column of no table. Labelled so that
# postgresql_ops can name them.
_SPACE = sa.literal(" ", sa.Text)
_EMPTY = sa.literal("", sa.Text)
sa.Index(
    "cases_text_trgm",
    case_text(cases, _SPACE, _EMPTY).label("case_text"),
    postgresql_using="gin",
    postgresql_ops={"case_text": "gin_trgm_ops"},
)
sa.Index(
    "contacts_text_trgm",
    contact_text(_SPACE, _EMPTY).label("contact_text"),
    postgresql_using="gin",
    postgresql_ops={"contact_text": "gin_trgm_ops"},
)

case_clients = sa.Table(
    "case_clients",
    metadata,
    sa.Column("case_id", UUID(as_uuid=True), sa.ForeignKey("cases.id"), primary_key=True),
    sa.Column("contact_id", UUID(as_uuid=True), sa.ForeignKey("contacts.id"), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
)
sa.Index("case_clients_contact", case_clients.c.contact_id)

case_roles = sa.Table(
    "case_roles",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("case_id", UUID(as_uuid=True), sa.ForeignKey("cases.id"), nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("contact_id", UUID(as_uuid=True), sa.ForeignKey("contacts.id"), nullable=False),
    sa.Column("start_date", sa.Date, nullable=False),
    sa.Column("end_date", sa.Date),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
)
sa.Index("case_roles_case", case_roles.c.case_id)
sa.Index("case_roles_contact", case_roles.c.contact_id)

# Links are symmetric: each is stored once in each direction.
case_links = sa.Table(
    "case_links",
    metadata,
    sa.Column("case_id", UUID(as_uuid=True), sa.ForeignKey("cases.id"), primary_key=True),
    sa.Column("linked_case_id", UUID(as_uuid=True), sa.ForeignKey("cases.id"), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
)

case_history = sa.Table(
    "case_history",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("case_id", UUID(as_uuid=True), sa.ForeignKey("cases.id"), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=now),
    sa.Column("actor", sa.Text),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("changes", JSONB, nullable=False),
)
sa.Index("case_history_case", case_history.c.case_id, case_history.c.id)


# Numbers of quotations and invoices, per instance and series (Q-2026): the next one is taken
# in the transaction that needs it, so a rolled-back one leaves no gap.
document_counters = sa.Table(
    "document_counters",
    metadata,
    sa.Column("instance", sa.Text, primary_key=True),
    sa.Column("series", sa.Text, primary_key=True),
    sa.Column("last", sa.BigInteger, nullable=False),
)

quotations = sa.Table(
    "quotations",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("case_id", UUID(as_uuid=True), sa.ForeignKey("cases.id"), nullable=False),
    sa.Column("instance", sa.Text, nullable=False),
    sa.Column("number", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),  # draft, sent, accepted, declined, expired
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("lines", JSONB, nullable=False),  # each with its net, tax and total (money)
    sa.Column("subtotal", sa.Numeric, nullable=False),
    sa.Column("tax", sa.Numeric, nullable=False),
    sa.Column("total", sa.Numeric, nullable=False),
    sa.Column("valid_until", sa.Date, nullable=False),
    sa.Column("notes", sa.Text),
    sa.Column("recipient_contact_id", UUID(as_uuid=True)),
    sa.Column("created_by", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.UniqueConstraint("instance", "number", name="quotations_number"),
)
sa.Index("quotations_case", quotations.c.case_id, quotations.c.created_at)
sa.Index(
    "quotations_expiring",
    quotations.c.valid_until,
    postgresql_where=quotations.c.status == "sent",
)

invoices = sa.Table(
    "invoices",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("case_id", UUID(as_uuid=True), sa.ForeignKey("cases.id"), nullable=False),
    sa.Column("instance", sa.Text, nullable=False),
    sa.Column("quotation_id", UUID(as_uuid=True), sa.ForeignKey("quotations.id")),
    sa.Column("number", sa.Text),  # taken when issued, in the issuing transaction
    sa.Column("status", sa.Text, nullable=False),  # draft, issued, paid, cancelled
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("lines", JSONB, nullable=False),
    sa.Column("subtotal", sa.Numeric, nullable=False),
    sa.Column("tax", sa.Numeric, nullable=False),
    sa.Column("total", sa.Numeric, nullable=False),
    sa.Column("paid", sa.Numeric, nullable=False, server_default="0"),
    sa.Column("issued_on", sa.Date),
    sa.Column("due_date", sa.Date),
    sa.Column("credit_note_number", sa.Text),
    sa.Column("notes", sa.Text),
    sa.Column("created_by", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.UniqueConstraint("instance", "number", name="invoices_number"),
    sa.UniqueConstraint("quotation_id", name="invoices_quotation"),
)
sa.Index("invoices_case", invoices.c.case_id, invoices.c.created_at)
sa.Index(
    "invoices_due",
    invoices.c.instance,
    invoices.c.due_date,
    postgresql_where=invoices.c.status == "issued",
)

invoice_payments = sa.Table(
    "invoice_payments",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),  # the caller's: a retry is one
    sa.Column("invoice_id", UUID(as_uuid=True), sa.ForeignKey("invoices.id"), nullable=False),
    sa.Column("amount", sa.Numeric, nullable=False),
    sa.Column("paid_on", sa.Date, nullable=False),
    sa.Column("reference", sa.Text),
    sa.Column("recorded_by", sa.Text),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
)
sa.Index("invoice_payments_invoice", invoice_payments.c.invoice_id, invoice_payments.c.recorded_at)
