"""Numbers of quotations and invoices: per instance, per series and year (Q-2026-0001).

The next number is taken in the transaction of what it numbers (an upsert that locks the
counter's row until commit): concurrent requests queue for it and get consecutive numbers,
and a transaction that rolls back gives its number back, so a series has no gaps."""

from sqlalchemy.dialects.postgresql import insert

from case_svc.tables import document_counters
from casestream.persistence.database import Transaction


async def take_number(tx: Transaction, instance: str, prefix: str, year: int) -> str:
    series = f"{prefix}-{year}"
    statement = insert(document_counters).values(instance=instance, series=series, last=1)
    statement = statement.on_conflict_do_update(
        index_elements=[document_counters.c.instance, document_counters.c.series],
        set_={"last": document_counters.c.last + 1},
    ).returning(document_counters.c.last)
    last = (await tx.session.execute(statement)).scalar_one()
    return f"{series}-{last:04d}"
