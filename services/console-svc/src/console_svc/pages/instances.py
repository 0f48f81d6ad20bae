"""An instance from the menu by name: one the user may not see is as good as unknown."""

from __future__ import annotations

from typing import Any

from console_svc.services_api import Refused


def instance_named(instances: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for instance in instances:
        if instance["name"] == name:
            return instance
    raise Refused(404, f"There is no workspace {name!r} that you may see.")
