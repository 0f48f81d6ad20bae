"""The arithmetic of quotations and invoices, in exact decimals.

The rounding rule: each line is rounded on its own, to cents, half up (commercial rounding):
``net = quantity x unit price x (1 - discount / 100)``, then ``tax = net x tax rate / 100``,
each rounded; the document's subtotal, tax and total are the sums of its rounded lines, so a
document's figures always add up to what its lines show."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")
HUNDRED = Decimal(100)


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def line_totals(line: dict[str, Any]) -> dict[str, str]:
    """A line's ``net``, ``tax`` and ``total`` (decimal strings) from its quantity, unit price,
    discount and tax rate (percentages)."""
    quantity = Decimal(str(line["quantity"]))
    gross = quantity * Decimal(str(line["unit_price"]))
    net = cents(gross * (HUNDRED - Decimal(str(line.get("discount") or 0))) / HUNDRED)
    tax = cents(net * Decimal(str(line.get("tax_rate") or 0)) / HUNDRED)
    return {"net": str(net), "tax": str(tax), "total": str(net + tax)}


def document_totals(lines: list[dict[str, Any]]) -> dict[str, str]:
    """``subtotal``, ``tax`` and ``total`` of lines that carry their own totals."""
    subtotal = sum((Decimal(line["net"]) for line in lines), Decimal("0.00"))
    tax = sum((Decimal(line["tax"]) for line in lines), Decimal("0.00"))
    return {"subtotal": str(subtotal), "tax": str(tax), "total": str(subtotal + tax)}


def priced(lines: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Lines with their totals, and the document's."""
    with_totals = [{**line, **line_totals(line)} for line in lines]
    return with_totals, document_totals(with_totals)
