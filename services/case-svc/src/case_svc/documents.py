"""Quotations and invoices as PDF documents (fpdf2), attached to the email that sends them.

A document is a function of its state: its creation date is the document's, so the same
state makes the same bytes. The built-in fonts cover Latin-1 only; any other
character is printed as "?" (a font of our own would add megabytes to every image)."""

from __future__ import annotations

from typing import Any

from fpdf import FPDF

from casestream.contracts.sales import InvoiceState, QuotationState

COLUMNS = [("Description", 70), ("Qty", 18), ("Unit price", 26), ("Disc. %", 18)]
COLUMNS += [("Tax %", 16), ("Net", 22), ("Total", 22)]


def _latin1(text: Any) -> str:
    return str(text).encode("latin-1", "replace").decode("latin-1")


def quotation_pdf(quotation: QuotationState, *, title: str, client: str | None) -> bytes:
    facts = [f"Valid until: {quotation.valid_until:%Y-%m-%d}"]
    return document_pdf(f"Quotation {quotation.number}", quotation, facts, title, client)


def invoice_pdf(invoice: InvoiceState, *, title: str, client: str | None) -> bytes:
    facts = [f"Issued: {invoice.issued_on}", f"Due: {invoice.due_date}"]
    return document_pdf(f"Invoice {invoice.number}", invoice, facts, title, client)


def document_pdf(
    heading: str,
    document: QuotationState | InvoiceState,
    facts: list[str],
    title: str,
    client: str | None,
) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_creation_date(document.created_at)
    pdf.set_title(_latin1(heading))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _latin1(heading), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    for line in [title, f"For: {client}" if client else None, *facts]:
        if line:
            pdf.cell(0, 6, _latin1(line), new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 6, f"Currency: {document.currency}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 9)
    for name, width in COLUMNS:
        pdf.cell(width, 7, name, border=1, align="L" if name == "Description" else "R")
    pdf.ln()
    pdf.set_font("Helvetica", size=9)
    for item in document.lines:
        values = [item.description, item.quantity, item.unit_price, item.discount]
        values += [item.tax_rate, item.net, item.total]
        for (name, width), value in zip(COLUMNS, values, strict=True):
            text = _latin1(value)[:45]
            pdf.cell(width, 7, text, border=1, align="L" if name == "Description" else "R")
        pdf.ln()
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 10)
    for label, value in (("Subtotal", document.subtotal), ("Tax", document.tax)):
        pdf.cell(150, 6, label, align="R")
        pdf.cell(42, 6, f"{value} {document.currency}", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(150, 7, "Total", align="R")
    pdf.cell(42, 7, f"{document.total} {document.currency}", align="R")
    pdf.ln(10)
    if document.notes:
        pdf.set_font("Helvetica", size=9)
        pdf.multi_cell(0, 5, _latin1(document.notes))
    return bytes(pdf.output())
