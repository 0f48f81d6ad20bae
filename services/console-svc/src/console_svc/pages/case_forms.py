"""What the case page's forms share: where to go after a post, the version a form showed
(sent on as ``If-Match``), dates from date inputs as ISO times, and showing the case page
again with the service's reason when it refused."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi.responses import HTMLResponse, RedirectResponse

from console_svc.pages.case_page import Failed, show_case
from console_svc.services_api import Refused
from console_svc.web import Page, form_text, local_path, see_other

# A due time given as a date only: the morning of that day.
DEFAULT_TIME = time(9, 0)


class BadInput(Exception):
    """A form value the console cannot turn into what the API takes (field -> message)."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(fields.values()))
        self.fields = fields


def if_match(form: Any) -> dict[str, str]:
    """The version the page showed: the service refuses (409) if it changed meanwhile."""
    version = form_text(form, "version")
    return {"If-Match": version} if version else {}


def done(form: Any, case_id: str, notice: str) -> RedirectResponse:
    """303 to the page the form came from (``back``), else to the case, saying what was done."""
    back = local_path(form_text(form, "back"))
    if back is None:
        return see_other(f"/cases/{case_id}", notice=notice)
    parts = urlsplit(back)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "notice"] + [("notice", notice)]
    return RedirectResponse(urlunsplit(parts._replace(query=urlencode(query))), status_code=303)


def due_at(form: Any, date_field: str, time_field: str, *, required: bool = False) -> str | None:
    """A date input (and an optional time input) as an ISO time in UTC, the zone the console
    shows times in."""
    day = form_text(form, date_field)
    if day is None:
        if required:
            raise BadInput({date_field: "give a date"})
        return None
    try:
        moment_day = date.fromisoformat(day)
    except ValueError:
        raise BadInput({date_field: "give a date such as 2025-03-31"}) from None
    hour = form_text(form, time_field)
    try:
        at = time.fromisoformat(hour) if hour else DEFAULT_TIME
    except ValueError:
        raise BadInput({time_field: "give a time such as 14:30"}) from None
    return datetime.combine(moment_day, at, tzinfo=UTC).isoformat()


def _field_name(loc: str, renamed: dict[str, str]) -> str:
    return renamed.get(loc, loc.replace(".", "_"))


async def refused_page(
    page: Page,
    case_id: str,
    form_name: str,
    form: Any,
    refusal: Refused | BadInput,
    renamed: dict[str, str] | None = None,
    what: str = "case",
) -> HTMLResponse:
    """The case page again, as it is now, with why the form was refused."""
    values = {k: str(v) for k, v in form.items() if k not in ("csrf", "version")}
    if isinstance(refusal, BadInput):
        fields, status, message = refusal.fields, 422, "Please correct the marked fields."
        stale = False
    else:
        fields = {_field_name(k, renamed or {}): v for k, v in refusal.fields.items()}
        status, message, stale = refusal.status, refusal.message, refusal.stale
        if stale:
            message = (
                f"Someone else changed this {what} after you opened it, so nothing was done. "
                "This is the case as it is now: check it and try again."
            )
        elif status == 422 and fields:
            message = "Please correct the marked fields: " + refusal.message
    failed = Failed(form_name, message, status, fields, values, stale)
    return await show_case(page, case_id, status_code=status, failed=failed)
