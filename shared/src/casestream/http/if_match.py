"""``If-Match: <version>`` on a change: the version of the record the caller saw, so that
``casestream.commands.ensure_version`` refuses (409) to overwrite a change they have not seen."""

from __future__ import annotations

from casestream.commands import invalid


def expected_version(if_match: str | None, record: str) -> int | None:
    """The version the header names (``3``, ``"3"`` or ``W/"3"``), None without the header;
    422 naming the header if it is no number. ``record``: "a case", "an activity"."""
    if if_match is None:
        return None
    try:
        return int(if_match.removeprefix("W/").strip('"'))
    except ValueError:
        raise invalid(("header", "if-match"), f'{record} version number, e.g. "3"') from None
