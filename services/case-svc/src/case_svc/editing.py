"""Editing a case's own fields: subject, details, custom values, the sales opportunity and
tags (``PATCH /cases/{id}``)."""

import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from case_svc.case_changes import Caller, lock_case, save_case
from case_svc.cases import state_of
from case_svc.config import Settings
from case_svc.configuration import definition_of
from case_svc.custom_fields import validated_custom
from case_svc.errors import conflict, invalid
from case_svc.schemas import CasePatch, OpportunityIn
from case_svc.tables import instances
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
        values["opportunity"] = await _opportunity(tx, case, patch.opportunity)
    values = {k: v for k, v in values.items() if getattr(case, k) != v}
    if not values:
        return await state_of(tx, case)  # nothing changed: no version, no event
    return await save_case(
        tx, settings, case, values=values, event_type=CASE_UPDATED, actor=caller.actor
    )


async def _opportunity(tx: Transaction, case: Any, given: OpportunityIn | None) -> Any:
    """Amount (a decimal string), currency, probability and expected close date: only for
    cases in a sales-opportunity instance. Fields not given are kept."""
    kind = (
        await tx.session.execute(
            sa.select(instances.c.instance_type).where(instances.c.name == case.instance)
        )
    ).scalar_one()
    if kind != "sales_opportunity":
        raise invalid(
            ("body", "opportunity"),
            f"instance {case.instance!r} is not a sales-opportunity instance",
        )
    if given is None:
        return None
    merged = {**(case.opportunity or {}), **given.model_dump(mode="json", exclude_unset=True)}
    if merged.get("amount") is not None:
        try:
            amount = Decimal(str(merged["amount"]))
        except InvalidOperation:
            raise invalid(("body", "opportunity", "amount"), "not a decimal amount") from None
        if not amount.is_finite() or amount < 0 or amount.as_tuple().exponent < -2:
            raise invalid(
                ("body", "opportunity", "amount"), "a non-negative amount with at most 2 decimals"
            )
        merged["amount"] = f"{amount:.2f}"
        if not merged.get("currency"):
            raise invalid(("body", "opportunity", "currency"), "an amount needs its currency")
    return merged
