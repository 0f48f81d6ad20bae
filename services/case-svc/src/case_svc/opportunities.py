"""The sales side of a case: amount (a decimal string with its currency), probability and
expected close date, for cases in a sales-opportunity instance only."""

from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from case_svc.schemas import OpportunityIn
from case_svc.tables import instances
from casestream.commands import invalid
from casestream.persistence.database import Transaction


async def checked_opportunity(
    tx: Transaction, instance: str, current: dict[str, Any] | None, given: OpportunityIn | None
) -> dict[str, Any] | None:
    """Amount (a decimal string), currency, probability and expected close date: only for
    cases in a sales-opportunity instance. Fields not given are kept."""
    kind = (
        await tx.session.execute(
            sa.select(instances.c.instance_type).where(instances.c.name == instance)
        )
    ).scalar_one()
    if kind != "sales_opportunity":
        raise invalid(
            ("body", "opportunity"),
            f"instance {instance!r} is not a sales-opportunity instance",
        )
    if given is None:
        return None
    merged = {**(current or {}), **given.model_dump(mode="json", exclude_unset=True)}
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
