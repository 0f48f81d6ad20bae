"""What activity-svc keeps of each case, from every ``case.events`` message: enough to say
who may see the case's activities (case-svc's rule), and whether it is closed or merged."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from activity_svc.case_action_log import log_case_action
from activity_svc.tables import metadata
from activity_svc.web_form_log import log_web_form_submission
from casestream.contracts.case import CaseEnvelope, CaseState
from casestream.persistence.database import Transaction
from casestream.persistence.upserts import upsert_newest
from casestream.settings import ServiceSettings
from casestream.tracing import traced

case_view = sa.Table(
    "case_view",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("instance", sa.Text, nullable=False),
    sa.Column("case_type", sa.Text, nullable=False),
    sa.Column("assignee", sa.Text),
    sa.Column("created_by", sa.Text),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("status_class", sa.Text, nullable=False),
    sa.Column("client_ids", JSONB, nullable=False, server_default="[]"),
    sa.Column("merged_into", UUID(as_uuid=True)),
    # The case's own version: an older event arriving late does not undo a newer one.
    sa.Column("version", sa.Integer, nullable=False),
)
# For "own" tokens: the cases assigned to or opened by the caller.
sa.Index("case_view_assignee", case_view.c.assignee)
sa.Index("case_view_created_by", case_view.c.created_by)


async def keep_cases(session: Any, cases: list[CaseState]) -> None:
    """The newest state of each case, of these and what is kept already: one statement."""
    rows = [
        {
            "id": case.id,
            "instance": case.instance,
            "case_type": case.case_type,
            "assignee": case.assignee,
            "created_by": case.created_by,
            "active": case.active,
            "status": case.status,
            "status_class": case.status_class,
            "client_ids": [str(c.id) for c in case.clients],
            "merged_into": case.merged_into,
            "version": case.version,
        }
        for case in cases
    ]
    await upsert_newest(session, case_view, rows, key="id", newer_by="version")


async def case_named(session: Any, case_id: uuid.UUID | None) -> Any:
    if case_id is None:
        return None
    return (await session.execute(sa.select(case_view).where(case_view.c.id == case_id))).first()


def case_follower(settings: ServiceSettings):
    async def follow_cases(envelopes: list[CaseEnvelope], tx: Transaction) -> None:
        """Keep the cases' facts (a batch's in one upsert), and log what case-svc did (and
        the web form submissions it took in) on each case's timeline."""
        await keep_cases(tx.session, [envelope.data.case for envelope in envelopes])
        for envelope in envelopes:
            with traced(envelope.correlation_id, str(envelope.id)):
                await log_case_action(tx, settings, envelope)
                await log_web_form_submission(tx, settings, envelope)

    return follow_cases
