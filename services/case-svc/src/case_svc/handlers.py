"""What case-svc does with the messages it hears."""

from case_svc import lifecycle, relations
from case_svc.activity_view import track_activities
from case_svc.cases import open_case
from case_svc.config import Settings
from case_svc.submissions import take_in_submission
from casestream.commands import Caller, refusals_rejected
from casestream.contracts.activity import ActivityEnvelope
from casestream.contracts.case import (
    AddCaseRole,
    AddCaseTags,
    AssignCase,
    CaseCommandData,
    CaseCommandEnvelope,
    ChangeCaseStatus,
    CloseCase,
    OpenCase,
)
from casestream.contracts.intake import SubmissionEnvelope
from casestream.persistence.database import Transaction


class Handlers:
    """One method per subscription."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def take_in_submission(self, envelope: SubmissionEnvelope, tx: Transaction) -> None:
        """A web form submission becomes a case, or joins its contact's open one, or is
        rejected with the reason; which of them goes out on case.submission_outcomes."""
        await take_in_submission(tx, self.settings, envelope.data)

    async def track_activities(self, envelopes: list[ActivityEnvelope], tx: Transaction) -> None:
        """Remember each activity's status and due time, and refresh the next activity of
        the cases they are on (or left): the dashboard's overdue and next-activity figures."""
        await track_activities(envelopes, tx)

    async def run_case_command(self, envelope: CaseCommandEnvelope, tx: Transaction) -> None:
        """Commands from internal apps: the same actions and checks as the HTTP API. A command
        the rules refuse is dead-lettered at once with the reason."""
        with refusals_rejected(envelope):
            await _run_command(tx, self.settings, envelope.data, Caller(actor=envelope.data.actor))


async def _run_command(
    tx: Transaction, settings: Settings, command: CaseCommandData, caller: Caller
) -> None:
    """``command`` is already the model its envelope's type names (CaseCommandEnvelope): a
    missing field or an unknown type never gets here (it is dead-lettered as invalid)."""
    if isinstance(command, OpenCase):
        await open_case(tx, settings, command.case, actor=caller.actor)
        return
    case_id, version = command.case_id, command.expected_version
    if isinstance(command, ChangeCaseStatus):
        await lifecycle.change_status(tx, settings, caller, case_id, command.status, version)
    elif isinstance(command, AssignCase):
        await lifecycle.assign(tx, settings, caller, case_id, command.user, version)
    elif isinstance(command, AddCaseRole):
        await relations.add_role(
            tx, settings, caller, case_id, command.role, command.contact_id, None, version
        )
    elif isinstance(command, AddCaseTags):
        # Only adds: a tag the case already has is no error, and if all are there nothing
        # changes (no version, no event), so a rule firing twice tags once.
        await relations.tag(tx, settings, caller, case_id, command.tags, [], version)
    else:
        assert isinstance(command, CloseCase)
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
