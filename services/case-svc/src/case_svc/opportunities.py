"""The sales side of a case: amount (a decimal string with its currency), probability and
expected close date, for cases in a sales-opportunity instance only.

The probability is the status's default probability (``case_statuses.probability``), and
follows the status as it changes, until a person sets one on the case
(``probability_set``); setting it to null gives it back to the status."""

from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from case_svc.configuration import statuses_by_name
from case_svc.schemas import OpportunityIn
from case_svc.tables import instances
from casestream.commands import invalid
from casestream.persistence.database import Transaction

MAX_AMOUNT = Decimal("9999999999.99")


async def checked_opportunity(
    tx: Transaction,
    instance: str,
    status: str,
    current: dict[str, Any] | None,
    given: OpportunityIn | None,
) -> dict[str, Any] | None:
    """Amount (a decimal string), currency, probability and expected close date: only for
    cases in a sales-opportunity instance (now in ``status``). Fields not given are kept."""
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
    if "probability" in given.model_fields_set:
        merged["probability_set"] = given.probability is not None
    merged.setdefault("probability_set", False)
    if not merged.get("probability_set"):
        merged["probability"] = (await statuses_by_name(tx))[status].probability
    if merged.get("amount") is not None:
        try:
            amount = Decimal(str(merged["amount"]))
        except InvalidOperation:
            raise invalid(("body", "opportunity", "amount"), "not a decimal amount") from None
        if not amount.is_finite() or amount < 0 or amount.as_tuple().exponent < -2:
            raise invalid(
                ("body", "opportunity", "amount"), "a non-negative amount with at most 2 decimals"
            )
        if amount > MAX_AMOUNT:  # the pipeline's totals are integers of cents
            raise invalid(("body", "opportunity", "amount"), f"at most {MAX_AMOUNT}")
        merged["amount"] = f"{amount:.2f}"
        if not merged.get("currency"):
            raise invalid(("body", "opportunity", "currency"), "an amount needs its currency")
    return merged


async def following_status(tx: Transaction, before: Any, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` to write on the case ``before``, with the new status's default probability
    when they change its status and no person set the probability."""
    status = values.get("status", before.status)
    opportunity = values.get("opportunity", before.opportunity)
    if status == before.status or not opportunity or opportunity.get("probability_set"):
        return values
    default = (await statuses_by_name(tx))[status].probability
    return {**values, "opportunity": {**opportunity, "probability": default}}
