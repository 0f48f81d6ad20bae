"""Web form submissions: the contact found or made under the form's duplicate-contact rule,
a new case or the contact's open one (the form's existing-open-case choice), and what became
of the submission, said on ``case.submission_outcomes`` in the same transaction.

A submission the case rules refuse (an inactive case type, a custom value the type does not
take) is not a broken message: it is rejected with a reason a person can act on, and changes
nothing else. Once fixed, intake-svc sends it again with the next ``attempt``."""

import uuid
from typing import Any, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from sqlalchemy.dialects.postgresql import UUID

from case_svc.case_changes import lock_case, save_case
from case_svc.cases import CheckedCase, checked_case, open_case
from case_svc.config import Settings
from case_svc.configuration import case_type_named, statuses_by_name
from case_svc.contacts import check_contact, cleaned, find_or_create_contact
from case_svc.schemas import CaseIn, ContactIn
from case_svc.tables import case_clients, case_statuses, cases, metadata
from casestream import topics
from casestream.commands import Refused, invalid
from casestream.contracts.case import (
    CASE_SUBMISSION_ATTACHED,
    SUBMISSION_OUTCOME,
    CaseOrigin,
    CaseState,
    Change,
    SubmissionOutcome,
)
from casestream.contracts.intake import SubmissionReceived
from casestream.envelope import new_envelope
from casestream.logging import get_logger
from casestream.persistence.database import Transaction

log = get_logger(__name__)

M = TypeVar("M", bound=BaseModel)

# The case's values are checked before its contact is found or made: a stand-in client.
NO_CLIENT_YET = uuid.UUID(int=0)

# What each submission that opened or joined a case became (rejections leave no row).
submission_outcomes = sa.Table(
    "submission_outcomes",
    metadata,
    sa.Column("submission_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("case_id", UUID(as_uuid=True), sa.ForeignKey("cases.id"), nullable=False),
    sa.Column("contact_id", UUID(as_uuid=True), sa.ForeignKey("contacts.id"), nullable=False),
    sa.Column("contact", sa.Text),
    sa.Column(
        "handled_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
)


async def take_in_submission(
    tx: Transaction, settings: Settings, submission: SubmissionReceived
) -> SubmissionOutcome:
    """Open a case for the submission, or add it to its contact's open case, or reject it;
    say which. Sent again after it was taken in, it changes nothing and the outcome is said
    again (so one lost on the way heals)."""
    outcome = await _earlier_outcome(tx, submission)
    if outcome is None:
        try:
            outcome = await _case_for(tx, settings, submission)
        except Refused as refused:
            outcome = _outcome(submission, "rejected", reason=_reason(refused))
            log.warning(
                "submission rejected",
                submission_id=str(submission.submission_id),
                form=submission.form,
                attempt=submission.attempt,
                reason=outcome.reason,
            )
    await tx.publish(
        settings.topic(topics.CASE_SUBMISSION_OUTCOMES),
        new_envelope(
            type=SUBMISSION_OUTCOME,
            source="case-svc",
            subject=str(submission.submission_id),
            data=outcome,
            # One id per attempt: the same attempt said again is the same message.
            id=uuid.uuid5(submission.submission_id, str(submission.attempt)),
        ),
    )
    return outcome


async def _case_for(
    tx: Transaction, settings: Settings, submission: SubmissionReceived
) -> SubmissionOutcome:
    """The submission's case: every refusal comes before anything is written, so a refused
    submission leaves nothing behind (a form that may join an open case is checked as it
    goes, in a savepoint)."""
    case_type = await case_type_named(tx, submission.case_type)
    if not case_type.active:
        raise invalid(("case_type",), f"case type {case_type.name!r} is not active")
    contact_values = _contact_values(submission)
    if submission.existing_open_case == "add_activity":
        # Its case values are checked only if no open case takes it: a refusal then takes
        # back the contact made already.
        async with tx.savepoint():
            return await _joined_or_opened(tx, settings, submission, contact_values)
    request = _case_in(submission, NO_CLIENT_YET)
    checked = await checked_case(tx, request)
    contact, created = await find_or_create_contact(
        tx, contact_values, settings, submission.duplicate_contact_rule
    )
    return await _opened(tx, settings, submission, contact, created, request, checked)


async def _joined_or_opened(
    tx: Transaction,
    settings: Settings,
    submission: SubmissionReceived,
    contact_values: dict[str, Any],
) -> SubmissionOutcome:
    contact, created = await find_or_create_contact(
        tx, contact_values, settings, submission.duplicate_contact_rule
    )
    if not created:
        actor = f"webform:{submission.form}"
        case = await _attach_to_open_case(tx, settings, contact.id, submission, actor)
        if case is not None:
            return await _taken_in(tx, submission, "attached", case, contact, created)
    request = _case_in(submission, contact.id)
    return await _opened(tx, settings, submission, contact, created, request, None)


async def _opened(
    tx: Transaction,
    settings: Settings,
    submission: SubmissionReceived,
    contact: Any,
    created: bool,
    request: CaseIn,
    checked: CheckedCase | None,
) -> SubmissionOutcome:
    case = await open_case(
        tx,
        settings,
        request.model_copy(update={"client_ids": [contact.id]}),
        actor=f"webform:{submission.form}",
        origin=_origin(submission, submission.activity_details),
        contacts_in_hand={contact.id: contact},
        checked=checked,
    )
    return await _taken_in(tx, submission, "case_opened", case, contact, created)


async def _taken_in(
    tx: Transaction,
    submission: SubmissionReceived,
    outcome: str,
    case: CaseState,
    contact: Any,
    created: bool,
) -> SubmissionOutcome:
    contact_outcome = "created" if created else "matched"
    await tx.session.execute(
        _RECORD_OUTCOME,
        dict(
            submission_id=submission.submission_id,
            outcome=outcome,
            case_id=case.id,
            contact_id=contact.id,
            contact=contact_outcome,
        ),
    )
    return _outcome(
        submission, outcome, case_id=case.id, contact_id=contact.id, contact=contact_outcome
    )


async def _attach_to_open_case(
    tx: Transaction,
    settings: Settings,
    contact_id: uuid.UUID,
    submission: SubmissionReceived,
    actor: str,
) -> CaseState | None:
    """Record the submission on the contact's newest open case of the form's case type, if
    it has one: no value changes, one history entry and a ``case.submission_attached`` event
    whose origin carries the activity's details (activity-svc logs the activity)."""
    opened = sa.select(case_statuses.c.name).where(case_statuses.c.grouping == "opened")
    candidates = await tx.session.execute(
        sa.select(cases.c.id)
        .join(case_clients, case_clients.c.case_id == cases.c.id)
        .where(
            case_clients.c.contact_id == contact_id,
            cases.c.case_type == submission.case_type,
            cases.c.active,
            cases.c.status.in_(opened),
        )
        .order_by(cases.c.created_at.desc(), cases.c.id.desc())
    )
    statuses = await statuses_by_name(tx)
    for (case_id,) in candidates.all():
        case = await lock_case(tx, case_id, staff=None)
        # Still so, now that it is locked?
        if (
            case.active
            and case.case_type == submission.case_type
            and statuses[case.status].grouping == "opened"
        ):
            return await _record_attachment(tx, settings, case, submission, actor)
    return None


async def _record_attachment(
    tx: Transaction, settings: Settings, case: Any, submission: SubmissionReceived, actor: str
) -> CaseState:
    """A change with no new values: one history entry and a case.submission_attached event
    whose origin carries the submission (activity-svc logs its activity)."""
    # No new case for the case's details to go to: they are the activity's, unless the form
    # gives the activity its own.
    origin = _origin(submission, submission.activity_details or submission.case.details)
    return await save_case(
        tx,
        settings,
        case,
        values={},
        event_type=CASE_SUBMISSION_ATTACHED,
        actor=actor,
        extra_changes={"submission": Change(after=str(submission.submission_id))},
        origin=origin,
    )


_RECORD_OUTCOME = submission_outcomes.insert()
_OUTCOME_OF = sa.select(submission_outcomes).where(
    submission_outcomes.c.submission_id == sa.bindparam("submission_id")
)


async def _earlier_outcome(
    tx: Transaction, submission: SubmissionReceived
) -> SubmissionOutcome | None:
    row = (
        await tx.session.execute(_OUTCOME_OF, {"submission_id": submission.submission_id})
    ).first()
    if row is None:
        return None
    return _outcome(
        submission, row.outcome, case_id=row.case_id, contact_id=row.contact_id, contact=row.contact
    )


def _origin(submission: SubmissionReceived, activity_details: str | None) -> CaseOrigin:
    return CaseOrigin(
        submission_id=submission.submission_id,
        form=submission.form,
        activity_details=activity_details,
    )


def _contact_values(submission: SubmissionReceived) -> dict[str, Any]:
    contact = _validated(ContactIn, submission.contact.model_dump(), "contact")
    values = cleaned(contact.model_dump(mode="json"))
    check_contact(values, where=("contact",))
    return values


def _case_in(submission: SubmissionReceived, contact_id: uuid.UUID) -> CaseIn:
    values = {
        "case_type": submission.case_type,
        "subject": submission.case.subject or f"Web form: {submission.form}",
        "details": submission.case.details,
        "client_ids": [contact_id],
        "custom": submission.case.custom,
    }
    return _validated(CaseIn, values, "case")


def _validated(model: type[M], values: dict[str, Any], where: str) -> M:
    """The model, or a refusal naming the first field it does not take."""
    try:
        return model.model_validate(values)
    except ValidationError as error:
        first = error.errors()[0]
        raise invalid((where, *map(str, first["loc"])), first["msg"]) from None


def _reason(refused: Refused) -> str:
    """For a person: the field (as the submission names it) and what is wrong with it."""
    if not refused.field:
        return refused.message
    field = ["case" if part == "body" else part for part in refused.field]
    return f"{'.'.join(field)}: {refused.message}"


def _outcome(submission: SubmissionReceived, outcome: str, **facts: Any) -> SubmissionOutcome:
    return SubmissionOutcome(
        submission_id=submission.submission_id,
        form=submission.form,
        attempt=submission.attempt,
        outcome=outcome,
        **facts,
    )
