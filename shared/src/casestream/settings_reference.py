"""The configuration reference: every setting of every service (its environment variable,
type, default and meaning), made from the settings classes themselves. The meaning is the
comment above the field in the source (the one place it is written); a setting without one
is an error, so a new setting cannot go undocumented. ``docs/configuration.md`` is this
output, and a test keeps the two equal."""

from __future__ import annotations

import inspect
import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from casestream.settings import ServiceSettings

_FIELD = re.compile(r"^    (\w+)\s*:")


@dataclass(frozen=True)
class Entry:
    variable: str
    type: str
    default: str
    meaning: str


class Undocumented(Exception):
    """A setting with no comment above it."""


def comments_of(cls: type) -> dict[str, str]:
    """Field name -> the comment above it in ``cls``'s source. A comment covers the block of
    fields right below it, up to a blank line (settings that go together share one)."""
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return {}
    found: dict[str, str] = {}
    comment: list[str] = []
    current = ""
    for line in lines:
        text = line.strip()
        if not text:
            comment, current = [], ""
        elif text.startswith("#"):
            if current:  # a comment after fields starts a block of its own
                comment, current = [], ""
            comment.append(text.lstrip("#").strip())
        elif match := _FIELD.match(line):
            current = " ".join(comment)
            if current:
                found[match.group(1)] = current
    return found


def _meanings(cls: type[ServiceSettings]) -> dict[str, str]:
    """Each field's comment: the nearest class in the MRO that defines one wins."""
    meanings: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if isinstance(klass, type) and issubclass(klass, ServiceSettings):
            meanings |= comments_of(klass)
    return meanings


def _type(info: FieldInfo) -> str:
    text = str(info.annotation).replace("typing.", "").replace("casestream.settings.", "")
    text = re.sub(r"<class '([\w.]+)'>", lambda m: m.group(1).rsplit(".", 1)[-1], text)
    return re.sub(r"\b[\w]+\.(\w+)", r"\1", text)


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        value: Any = info.default_factory()  # type: ignore[call-arg]
    elif info.default is PydanticUndefined:
        return "(required)"
    else:
        value = info.default
    if value is None:
        return "unset"
    if isinstance(value, str):
        return json.dumps(value) if value else '"" (empty)'
    if isinstance(value, (dict, list)):
        return (
            json.dumps(value, default=str) if value else ("{}" if isinstance(value, dict) else "[]")
        )
    return json.dumps(value) if isinstance(value, bool) else str(value)


def entries(cls: type[ServiceSettings]) -> list[Entry]:
    prefix = str(cls.model_config.get("env_prefix", ""))
    meanings = _meanings(cls)
    missing = [name for name in cls.model_fields if name not in meanings]
    if missing:
        raise Undocumented(f"{cls.__module__}: no comment above {', '.join(missing)}")
    return [
        Entry((prefix + name).upper(), _type(info), _default(info), meanings[name])
        for name, info in cls.model_fields.items()  # as defined: related ones together
    ]


def reference(services: dict[str, type[ServiceSettings]], intro: str) -> str:
    """Markdown: the settings every service shares, once, then each service's own and the
    shared ones whose default it changes."""
    out = [intro.rstrip(), "", "## Every service", ""]
    out += [
        "Each service reads these under its own prefix (`CASE_SVC_`, `ACTIVITY_SVC_`, "
        "`AUTOMATION_SVC_`, `NOTIFY_SVC_`, `INTAKE_SVC_`, `CONSOLE_SVC_`); a service that "
        "changes a default lists it again below.",
        "",
        *_table(("<PREFIX>" + e.name.upper(), e) for e in _named(ServiceSettings)),
    ]
    for service, cls in services.items():
        own = [
            (e.variable, e)
            for e in _named(cls)
            if e.name not in ServiceSettings.model_fields or _default_differs(cls, e.name)
        ]
        out += ["", f"## {service}", "", *_table(own)]
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class _Named(Entry):
    name: str = ""


def _named(cls: type[ServiceSettings]) -> list[_Named]:
    prefix = str(cls.model_config.get("env_prefix", "")).upper()
    return [
        _Named(**e.__dict__, name=e.variable.removeprefix(prefix).lower()) for e in entries(cls)
    ]


def _default_differs(cls: type[ServiceSettings], name: str) -> bool:
    return _default(cls.model_fields[name]) != _default(ServiceSettings.model_fields[name])


def _table(rows: Any) -> list[str]:
    """One row per comment: the settings one comment covers share a row."""
    lines = ["| setting | type | default | meaning |", "| --- | --- | --- | --- |"]
    groups: list[list[tuple[str, Entry]]] = []
    for variable, entry in rows:
        if groups and groups[-1][-1][1].meaning == entry.meaning:
            groups[-1].append((variable, entry))
        else:
            groups.append([(variable, entry)])
    for group in groups:
        cells = [
            "<br>".join(f"`{variable}`" for variable, _ in group),
            "<br>".join(f"`{entry.type}`" for _, entry in group),
            "<br>".join(f"`{entry.default}`" for _, entry in group),
            group[0][1].meaning,
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return lines


INTRO = """# Configuration reference

Every setting of every service, from its environment variable. Made from the settings classes
(`uv run python -m casestream.settings_reference > docs/configuration.md`, which `make docs`
runs); a test fails when this file and the code differ, or a setting has no comment saying
what it is for. JSON for maps and lists (`CASE_SVC_STAFF_TOKENS='{"tok": {"user": "jo"}}'`)."""

SERVICES = {
    "case-svc": "case_svc.config",
    "activity-svc": "activity_svc.config",
    "automation-svc": "automation_svc.config",
    "notify-svc": "notify_svc.config",
    "intake-svc": "intake_svc.config",
    "console-svc": "console_svc.config",
}


def settings_classes(modules: dict[str, str] = SERVICES) -> dict[str, type[ServiceSettings]]:
    """Each service's ``Settings``, by service name (imported by module name: the shared
    library knows the services' names, not their code)."""
    import importlib

    return {name: importlib.import_module(module).Settings for name, module in modules.items()}


def main() -> None:
    print(reference(settings_classes(), INTRO), end="")


if __name__ == "__main__":
    main()
