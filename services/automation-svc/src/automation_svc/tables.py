"""automation-svc's own tables: rules, the log of their firings and actions (a pending
action is a durable timer), the commands still awaiting their outcome, and read models
learnt from events: cases, activities, case types and template names."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from casestream.persistence.read_models import case_types_table, cases_table

metadata = sa.MetaData()


def _now() -> sa.Column:
    return sa.func.now()


rules = sa.Table(
    "rules",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("trigger", JSONB, nullable=False),
    sa.Column("conditions", JSONB, nullable=False),
    sa.Column("actions", JSONB, nullable=False),
    sa.Column("cancel_if", JSONB, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
)
# Every consumed event looks up the enabled rules for its type.
sa.Index("rules_trigger_event", rules.c.trigger["event"].astext, postgresql_where=rules.c.enabled)

firings = sa.Table(
    "firings",
    metadata,
    # uuid5(rule id, event id): a redelivered event maps to the same firing.
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("rule_id", UUID(as_uuid=True), nullable=False),
    sa.Column("rule_version", sa.Integer, nullable=False),
    sa.Column("event_id", UUID(as_uuid=True), nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("case_id", UUID(as_uuid=True)),
    sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.UniqueConstraint("rule_id", "event_id", name="firings_rule_event"),
)
sa.Index("firings_case", firings.c.case_id, firings.c.fired_at)
sa.Index("firings_rule", firings.c.rule_id, firings.c.fired_at)

firing_actions = sa.Table(
    "firing_actions",
    metadata,
    # Occurrence 0: uuid5(firing id, index); a repeat n: uuid5(that id, n). The id is also
    # the id of the command the action sends, which its receiver deduplicates.
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("firing_id", UUID(as_uuid=True), sa.ForeignKey("firings.id"), nullable=False),
    sa.Column("index", sa.Integer, nullable=False),
    sa.Column("occurrence", sa.Integer, nullable=False, server_default="0"),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("params", JSONB, nullable=False),
    sa.Column("state", sa.Text, nullable=False),  # pending, done, cancelled, failed
    sa.Column("due_at", sa.DateTime(timezone=True)),
    sa.Column("error", sa.Text),
    sa.Column("command_id", UUID(as_uuid=True)),
    sa.Column("rule_id", UUID(as_uuid=True)),
    sa.Column("case_id", UUID(as_uuid=True)),
    sa.Column("activity_id", UUID(as_uuid=True)),  # the triggering activity, re-read when due
    # The triggering quotation or invoice, likewise.
    sa.Column("document_id", UUID(as_uuid=True)),
    sa.Column("cancel_if", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    sa.Column("executed_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.UniqueConstraint("firing_id", "index", "occurrence", name="firing_actions_occurrence"),
)
# The timer worker claims due pending actions through this index.
sa.Index(
    "firing_actions_due",
    firing_actions.c.due_at,
    postgresql_where=firing_actions.c.state == "pending",
)
sa.Index("firing_actions_case", firing_actions.c.case_id)
sa.Index(
    "firing_actions_activity",
    firing_actions.c.activity_id,
    postgresql_where=sa.and_(
        firing_actions.c.state == "pending", firing_actions.c.activity_id.is_not(None)
    ),
)

# Quotations and invoices as sales.events last said them (the newest version wins).
sales_documents = sa.Table(
    "sales_documents",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),  # quotation, invoice
    sa.Column("case_id", UUID(as_uuid=True), nullable=False),
    sa.Column("state", JSONB, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

awaited_commands = sa.Table(
    "awaited_commands",
    metadata,
    # The action's id: the id of the command as first sent. A row lives from the command's
    # sending until its outcome comes (or it is given up): the re-driver's work, not a log.
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("envelope", JSONB, nullable=False),  # as first sent: a repeat is the same command
    sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
)
# The re-driver takes the longest-waiting first.
sa.Index("awaited_commands_sent", awaited_commands.c.sent_at)

cases = cases_table(metadata)

activities = sa.Table(
    "activities",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("case_id", UUID(as_uuid=True)),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("state", JSONB, nullable=False),  # ActivityState
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("activities_case", activities.c.case_id, activities.c.type)

case_types = case_types_table(metadata)

templates = sa.Table(
    "templates",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
