"""What automation-svc does with each message it hears."""

from __future__ import annotations

from automation_svc.firing import fire_rules
from casestream.contracts.case import CaseEnvelope
from casestream.persistence.database import Transaction
from casestream.settings import ServiceSettings


class Handlers:
    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings

    async def fire_rules_on_case_event(self, envelope: CaseEnvelope, tx: Transaction) -> None:
        """Every enabled rule triggered by this case event whose conditions hold fires once."""
        facts = envelope.data.model_dump(mode="json")
        facts["event"] = {"type": envelope.type, "occurred_at": envelope.occurred_at.isoformat()}
        await fire_rules(
            tx,
            self.settings,
            event_id=envelope.id,
            event_type=envelope.type,
            occurred_at=envelope.occurred_at,
            case_id=envelope.data.case.id,
            facts=facts,
        )
