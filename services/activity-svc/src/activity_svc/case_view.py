"""What activity-svc keeps of each case, from every ``case.events`` message: enough to say
who may see the case's activities (case-svc's rule), and whether it is closed or merged."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert

from activity_svc.case_action_log import log_case_action
from activity_svc.tables import metadata
from activity_svc.web_form_log import log_web_form_submission
from casestream.contracts.case import CaseEnvelope, CaseState
from casestream.persistence.database import Transaction
from casestream.settings import ServiceSettings

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


async def keep_case(session: Any, case: CaseState) -> None:
    values = {
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
    await session.execute(_KEEP, {"id": case.id, **values})


def _keep() -> Any:
    statement = insert(case_view)
    return statement.on_conflict_do_update(
        index_elements=[case_view.c.id],
        set_={c.name: statement.excluded[c.name] for c in case_view.c if c.name != "id"},
        where=case_view.c.version < statement.excluded.version,
    )


_KEEP = _keep()  # built once: every case event runs it


async def case_named(session: Any, case_id: uuid.UUID | None) -> Any:
    if case_id is None:
        return None
    return (await session.execute(sa.select(case_view).where(case_view.c.id == case_id))).first()


def case_follower(settings: ServiceSettings):
    async def follow_case(envelope: CaseEnvelope, tx: Transaction) -> None:
        """Keep the case's facts, and log what case-svc did (and the web form submissions it
        took in) on the case's timeline."""
        await keep_case(tx.session, envelope.data.case)
        await log_case_action(tx, settings, envelope)
        await log_web_form_submission(tx, settings, envelope)

    return follow_case
