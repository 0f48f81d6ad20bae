"""Templates: checked when saved, rendered in a sandbox where an unknown token is an error
(StrictUndefined) rather than an empty gap in a letter to a client."""

from __future__ import annotations

import functools
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment

# What a template may refer to. ``activity`` is known but not yet filled in (emails are
# not yet sent from activity events), so a template using it cannot render today.
KNOWN_NAMES = ("case", "client", "clients", "roles", "activity")
PARTS = ("subject", "body_text", "body_html")


class CannotRender(ValueError):
    pass


@functools.cache
def _environment(html: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=html)


def template_problem(source: str, *, html: bool = False) -> str | None:
    """Why ``source`` cannot be a template part, or None when it can."""
    env = _environment(html)
    try:
        parsed = env.parse(source)
        env.compile(parsed)
    except TemplateSyntaxError as error:
        return f"does not compile: {error.message} (line {error.lineno})"
    unknown = sorted(meta.find_undeclared_variables(parsed) - set(KNOWN_NAMES))
    if unknown:
        return f"unknown token {', '.join(unknown)}; known: {', '.join(KNOWN_NAMES)}"
    return None


def render(parts: dict[str, str | None], context: dict[str, Any]) -> dict[str, str | None]:
    """Render the subject, text and HTML bodies (HTML autoescaped)."""
    rendered: dict[str, str | None] = {}
    for part in PARTS:
        source = parts.get(part)
        if source is None:
            rendered[part] = None
            continue
        try:
            template = _environment(part == "body_html").from_string(source)
            rendered[part] = template.render(context)
        except TemplateError as error:
            raise CannotRender(f"{part}: {error}") from error
    return rendered
