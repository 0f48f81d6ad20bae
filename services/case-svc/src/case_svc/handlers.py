"""What case-svc does with the messages it hears."""

import sqlalchemy as sa
from pydantic import ValidationError

from case_svc import lifecycle, relations
from case_svc.case_changes import Caller
from case_svc.cases import open_case
from case_svc.config import Settings
from case_svc.errors import Refused, invalid
from case_svc.schemas import CaseIn, ContactIn
from case_svc.tables import cases
from casestream.contracts.case import (
    ADD_CASE_ROLE,
    ADD_CASE_TAGS,
    ASSIGN_CASE,
    CASE_COMMAND_TYPES,
    CHANGE_CASE_STATUS,
    CLOSE_CASE,
    OPEN_CASE,
    CaseCommand,
    CaseCommandEnvelope,
    CaseOrigin,
)
from casestream.contracts.intake import SubmissionEnvelope
from casestream.messaging.consumption import Rejected
from casestream.persistence.database import Transaction


def open_case_for_submission(settings: Settings):
    async def open_case_for_submission(envelope: SubmissionEnvelope, tx: Transaction) -> None:
        """A web form submission becomes a case for the contact with its email (found or new)."""
        submission = envelope.data
        already = await tx.session.execute(
            sa.select(cases.c.id).where(cases.c.source_submission_id == submission.submission_id)
        )
        if already.first() is not None:
            return  # the same submission sent again (e.g. retried upstream): one case
        try:
            await open_case(
                tx,
                settings,
                CaseIn(
                    case_type=submission.case_type,
                    subject=submission.case.subject or f"Web form: {submission.form}",
                    details=submission.case.details,
                    client=ContactIn(**submission.contact.model_dump()),
                    custom=submission.case.custom,
                ),
                actor=f"webform:{submission.form}",
                origin=CaseOrigin(submission_id=submission.submission_id, form=submission.form),
            )
        except (Refused, ValidationError) as error:
            # Retrying cannot help (an inactive case type, a value the case type refuses):
            # dead-letter it at once, with the reason. (Telling intake-svc is issue 6's.)
            raise Rejected(f"submission {submission.submission_id}: {_reason(error)}") from None

    return open_case_for_submission


def handle_case_command(settings: Settings):
    async def handle_case_command(envelope: CaseCommandEnvelope, tx: Transaction) -> None:
        """Commands from internal apps: the same actions and checks as the HTTP API. A command
        the rules refuse is dead-lettered at once with the reason."""
        command, caller = envelope.data, Caller(actor=envelope.data.actor)
        try:
            await _run_command(tx, settings, envelope.type, command, caller)
        except Refused as refused:
            where = f" ({'.'.join(refused.field)})" if refused.field else ""
            raise Rejected(
                f"{envelope.type} refused: {refused.status} {refused.message}{where}"
            ) from None
        except ValidationError as error:
            raise Rejected(f"{envelope.type}: invalid case: {error}") from None

    return handle_case_command


async def _run_command(
    tx: Transaction, settings: Settings, kind: str, command: CaseCommand, caller: Caller
) -> None:
    if kind == OPEN_CASE:
        await open_case(tx, settings, CaseIn.model_validate(command.case or {}), actor=caller.actor)
        return
    if command.case_id is None:
        raise invalid(("data", "case_id"), f"{kind} needs a case_id")
    case_id, version = command.case_id, command.expected_version
    if kind == CHANGE_CASE_STATUS:
        await lifecycle.change_status(
            tx, settings, caller, case_id, _needs(command, "status"), version
        )
    elif kind == ASSIGN_CASE:
        await lifecycle.assign(tx, settings, caller, case_id, command.user, version)
    elif kind == ADD_CASE_ROLE:
        await relations.add_role(
            tx,
            settings,
            caller,
            case_id,
            _needs(command, "role"),
            _needs(command, "contact_id"),
            None,
            version,
        )
    elif kind == ADD_CASE_TAGS:
        if not command.tags:
            raise invalid(("data", "tags"), "this command needs at least one tag")
        # Only adds: a tag the case already has is no error, and if all are there nothing
        # changes (no version, no event), so a rule firing twice tags once.
        await relations.tag(tx, settings, caller, case_id, command.tags, [], version)
    elif kind == CLOSE_CASE:
        await lifecycle.close(
            tx,
            settings,
            caller,
            case_id,
            command.status,
            command.outcome,
            command.lost_reason,
            version,
        )
    else:
        raise invalid(
            ("type",), f"unknown command {kind!r}; one of {', '.join(CASE_COMMAND_TYPES)}"
        )


def _needs(command: CaseCommand, field: str):
    value = getattr(command, field)
    if value is None:
        raise invalid(("data", field), f"this command needs {field}")
    return value


def _reason(error: Exception) -> str:
    if isinstance(error, Refused):
        where = f" ({'.'.join(error.field)})" if error.field else ""
        return f"{error.status} {error.message}{where}"
    return str(error)
