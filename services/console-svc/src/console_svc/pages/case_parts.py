"""The services' answers as the case page shows them: a part that may have been refused,
custom values and history changes in words, the timeline with overdue activities marked."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from console_svc.services_api import Refused
from console_svc.web import now

HISTORY_VALUE_SIZE = 120


@dataclass
class Part:
    """What one service answered for one part of the page, or why it did not."""

    items: list[dict[str, Any]]
    refused: str | None = None

    @classmethod
    def of(cls, answer: Any) -> Part:
        if isinstance(answer, Refused):
            return cls([], answer.message or f"refused ({answer.status})")
        if isinstance(answer, dict):
            return cls(answer.get("items") or [])
        return cls(list(answer or []))


def custom_values(definition: dict[str, Any], custom: dict[str, Any]) -> list[tuple[str, Any]]:
    """(label, value) of the case's custom fields, in the case type's order, then any
    value the type no longer has a field for."""
    shown = []
    for f in definition.get("custom_fields") or []:
        if f["name"] in custom:
            shown.append((f.get("label") or f["name"], custom[f["name"]]))
    named = {f["name"] for f in definition.get("custom_fields") or []}
    shown += [(name, value) for name, value in custom.items() if name not in named]
    return [(label, _readable(value)) for label, value in shown]


def _readable(value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def history_of(part: Part) -> Part:
    """Latest first, each change as (field, before, after) in words."""
    part.items = list(reversed(part.items))
    for entry in part.items:
        entry["shown"] = [
            (name.replace("_", " "), _short(change, "before"), _short(change, "after"))
            for name, change in (entry.get("changes") or {}).items()
        ]
    return part


def _short(change: Any, side: str) -> str | None:
    value = change.get(side) if isinstance(change, dict) else (change if side == "after" else None)
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, dict) or (
        isinstance(value, list) and not all(isinstance(v, str) for v in value)
    ):
        value = json.dumps(value, ensure_ascii=False)
    text = _readable(value)
    return text if len(text) <= HISTORY_VALUE_SIZE else text[: HISTORY_VALUE_SIZE - 1] + "…"


def timeline_of(part: Part, labels: dict[str, str]) -> Part:
    """Each activity with its type's label, and whether it is overdue (said in words)."""
    moment = now()
    for activity in part.items:
        activity.setdefault("type_label", None)
        activity["type_label"] = activity["type_label"] or labels.get(activity["type"])
        due = _moment(activity.get("due_at"))
        activity["overdue"] = activity["status"] == "scheduled" and due is not None and due < moment
    return part


def _moment(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
