"""Templates: checked when saved, rendered in a sandbox where an unknown token is an error
(StrictUndefined) rather than an empty gap in a letter to a client.

The save-time check walks the template's syntax tree: ``case.<attr>``, ``client.<attr>``,
``roles.<role>.<attr>``, ``activity.<attr>``, ``quotation.<attr>`` and ``invoice.<attr>``
must name fields of the contracts the
read model keeps (anything below ``case.custom`` and ``case.opportunity`` is free: custom
fields differ per case type), and nothing may reach an attribute or item starting with
``_`` (the way out of every sandbox escape). The sandbox still guards at render time.
"""

from __future__ import annotations

import functools
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from casestream.contracts.activity import ActivityState
from casestream.contracts.case import CaseState, ContactState
from casestream.contracts.sales import InvoiceState, QuotationState

KNOWN_NAMES = ("case", "client", "clients", "roles", "activity", "quotation", "invoice")
PARTS = ("subject", "body_text", "body_html")

# name -> (the fields its first attribute may be, how the error message calls it)
_FIELDS: dict[str, tuple[tuple[str, ...], str]] = {
    "case": (tuple(CaseState.model_fields), "case"),
    "client": (tuple(ContactState.model_fields), "client"),
    "activity": (tuple(ActivityState.model_fields), "activity"),
    "quotation": (tuple(QuotationState.model_fields), "quotation"),
    "invoice": (tuple(InvoiceState.model_fields), "invoice"),
}
_ROLE_FIELDS = tuple(ContactState.model_fields)
# Filters whose arguments name attributes to read.
_ATTRIBUTE_FILTERS = {"attr", "selectattr", "rejectattr", "groupby"}


class CannotRender(ValueError):
    pass


# Compiled template parts kept per process, by source: a saved template's parts render
# thousands of emails, and compiling one costs far more than rendering it.
COMPILED_CACHE_SIZE = 512


@functools.cache
def _environment(html: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=html)


@functools.lru_cache(maxsize=COMPILED_CACHE_SIZE)
def _compiled(source: str, html: bool) -> Template:
    """``source`` compiled in the sandbox (HTML autoescaped); a source that does not compile
    raises each time (errors are not cached)."""
    return _environment(html).from_string(source)


@functools.lru_cache(maxsize=COMPILED_CACHE_SIZE)
def template_problem(source: str, *, html: bool = False) -> str | None:
    """Why ``source`` cannot be a template part, or None when it can (the answer is kept:
    inline parts are checked for every email that carries them)."""
    env = _environment(html)
    try:
        parsed = env.parse(source)
        env.compile(parsed)
    except TemplateSyntaxError as error:
        return f"does not compile: {error.message} (line {error.lineno})"
    if problem := _private_access(parsed):
        return problem
    unknown = sorted(meta.find_undeclared_variables(parsed) - set(KNOWN_NAMES))
    if unknown:
        return f"unknown token {', '.join(unknown)}; known: {', '.join(KNOWN_NAMES)}"
    return _unknown_attribute(parsed)


@functools.lru_cache(maxsize=COMPILED_CACHE_SIZE)
def names_used(source: str) -> frozenset[str]:
    """The context names a template part reads (none if it does not parse: rendering it
    will say why)."""
    try:
        return frozenset(meta.find_undeclared_variables(_environment(False).parse(source)))
    except TemplateSyntaxError:
        return frozenset()


def render(parts: dict[str, str | None], context: dict[str, Any]) -> dict[str, str | None]:
    """Render the subject, text and HTML bodies (HTML autoescaped)."""
    rendered: dict[str, str | None] = {}
    for part in PARTS:
        source = parts.get(part)
        if source is None:
            rendered[part] = None
            continue
        try:
            rendered[part] = _compiled(source, part == "body_html").render(context)
        except TemplateError as error:
            raise CannotRender(f"{part}: {error}") from error
    return rendered


def _private_access(parsed: nodes.Template) -> str | None:
    refusal = "refused token {}: names starting with '_' are not reachable from templates"
    for node in parsed.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            return refusal.format(_spelled(node))
        if isinstance(node, nodes.Getitem) and _private(node.arg):
            return refusal.format(_spelled(node))
        if isinstance(node, nodes.Filter):
            named = [k.value for k in node.kwargs if k.key == "attribute"]
            if node.name in _ATTRIBUTE_FILTERS and node.args:
                named.append(node.args[0])
            if any(_private(n) for n in named):
                return refusal.format(f"{_spelled(node.node)}|{node.name}(...)")
    return None


def _unknown_attribute(parsed: nodes.Template) -> str | None:
    # A name the template assigns itself ({% set %}, a loop target) is not ours to check.
    own = {n.name for n in parsed.find_all(nodes.Name) if n.ctx in ("store", "param")}
    for node in parsed.find_all((nodes.Getattr, nodes.Getitem)):
        path = _path(node)
        if path is None or path[0] in own:
            continue
        root, keys = path
        if root in _FIELDS and len(keys) == 1:
            fields, called = _FIELDS[root]
            if keys[0] not in fields:
                return f"unknown token {_spelled(node)}; {called} has: {', '.join(fields)}"
        if root == "roles" and len(keys) == 2 and keys[1] not in _ROLE_FIELDS:
            return (
                f"unknown token {_spelled(node)}; a role's contact has: {', '.join(_ROLE_FIELDS)}"
            )
    return None


def _path(node: nodes.Node) -> tuple[str, list[Any]] | None:
    """``case.subject`` -> ("case", ["subject"]); None unless every step is a constant."""
    keys: list[Any] = []
    while True:
        if isinstance(node, nodes.Getattr):
            keys.append(node.attr)
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            keys.append(node.arg.value)
        elif isinstance(node, nodes.Name):
            return node.name, keys[::-1]
        else:
            return None
        node = node.node


def _spelled(node: nodes.Node) -> str:
    """The token as the template wrote it, near enough for an error message."""
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Const):
        return repr(node.value)
    if isinstance(node, nodes.Getattr):
        return f"{_spelled(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem):
        arg = node.arg
        key = repr(arg.value) if isinstance(arg, nodes.Const) else "..."
        return f"{_spelled(node.node)}[{key}]"
    return "(...)"


def _private(node: nodes.Node) -> bool:
    return (
        isinstance(node, nodes.Const) and isinstance(node.value, str) and node.value.startswith("_")
    )
