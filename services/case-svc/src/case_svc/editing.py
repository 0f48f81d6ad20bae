"""Editing a case's own fields: subject, details, custom values, the sales opportunity and
tags (``PATCH /cases/{id}``)."""

import uuid
from typing import Any

from case_svc.case_changes import lock_case, save_case
from case_svc.cases import state_of
from case_svc.config import Settings
from case_svc.configuration import definition_of
from case_svc.custom_fields import validated_custom
from case_svc.opportunities import checked_opportunity
from case_svc.schemas import CasePatch
from casestream.commands import Caller, conflict, invalid
from casestream.contracts.case import CASE_UPDATED, CaseState
from casestream.persistence.database import Transaction


async def edit(
    tx: Transaction,
    settings: Settings,
    caller: Caller,
    case_id: uuid.UUID,
    patch: CasePatch,
    version: int | None = None,
) -> CaseState:
    case = await lock_case(
        tx,
        case_id,
        staff=caller.staff,
        expected_version=patch.version if patch.version is not None else version,
    )
    if case.merged_into is not None:
        raise conflict(f"the case was merged into {case.merged_into}: edit that one")
    given = patch.model_dump(exclude_unset=True, exclude={"version"})
    if "subject" in given and not given["subject"]:
        raise invalid(("body", "subject"), "a case needs a subject")
    values: dict[str, Any] = {k: given[k] for k in ("subject", "details") if k in given}
    if "tags" in given:
        values["tags"] = list(dict.fromkeys(given["tags"] or []))
    if "custom" in given:
        definition = await definition_of(tx, case.case_type, case.case_type_version)
        values["custom"] = await validated_custom(
            tx, definition.custom_fields, given["custom"] or {}, current=case.custom
        )
    if "opportunity" in given:
        values["opportunity"] = await checked_opportunity(
            tx, case.instance, case.status, case.opportunity, patch.opportunity
        )
    values = {k: v for k, v in values.items() if getattr(case, k) != v}
    if not values:
        return await state_of(tx, case)  # nothing changed: no version, no event
    return await save_case(
        tx, settings, case, values=values, event_type=CASE_UPDATED, actor=caller.actor
    )
