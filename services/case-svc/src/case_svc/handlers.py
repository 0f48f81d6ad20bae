"""What case-svc does with the messages it hears."""

from case_svc import lifecycle, relations
from case_svc.cases import open_case
from case_svc.config import Settings
from case_svc.schemas import CaseIn
from case_svc.submissions import take_in_submission
from casestream.commands import Caller, invalid, rejecting_refusals
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
)
from casestream.contracts.intake import SubmissionEnvelope
from casestream.persistence.database import Transaction


def handle_submission(settings: Settings):
    async def handle_submission(envelope: SubmissionEnvelope, tx: Transaction) -> None:
        """A web form submission becomes a case, or joins its contact's open one, or is
        rejected with the reason; which of them goes out on case.submission_outcomes."""
        await take_in_submission(tx, settings, envelope.data)

    return handle_submission


def handle_case_command(settings: Settings):
    @rejecting_refusals
    async def handle_case_command(envelope: CaseCommandEnvelope, tx: Transaction) -> None:
        """Commands from internal apps: the same actions and checks as the HTTP API. A command
        the rules refuse is dead-lettered at once with the reason."""
        caller = Caller(actor=envelope.data.actor)
        await _run_command(tx, settings, envelope.type, envelope.data, caller)

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
