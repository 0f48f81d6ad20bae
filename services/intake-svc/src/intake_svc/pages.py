"""The public form as an accessible HTML page that works without JavaScript: every input has
a label, required fields say so in words, errors are summarised at the top (linked to their
fields) and tied to each input with aria-describedby."""

from __future__ import annotations

from html import escape
from typing import Any

from intake_svc.defences import KEY_FIELD, TOKEN_FIELD, honeypot_name
from intake_svc.schemas import Form, FormField

AUTOCOMPLETE = {
    "contact.first_name": "given-name",
    "contact.last_name": "family-name",
    "contact.email": "email",
    "contact.phone": "tel",
}
INPUT_TYPES = {"text": "text", "email": "email", "phone": "tel", "number": "number", "date": "date"}
STYLE = """
body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.5}
.field{margin:0 0 1.25rem}label,legend{display:block;font-weight:600}
input:not([type=checkbox]),select,textarea{display:block;width:100%;padding:.4rem;font:inherit;box-sizing:border-box}
textarea{min-height:8rem}.hint{margin:.1rem 0;color:#444}.error{color:#b00020;font-weight:600;margin:.1rem 0}
[aria-invalid=true]{border:2px solid #b00020}.summary{border:3px solid #b00020;padding:0 1rem;margin-bottom:1.5rem}
fieldset{border:0;padding:0}.choice label{display:inline;font-weight:400}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.trap{position:absolute;left:-10000px;top:auto;width:1px;height:1px;overflow:hidden}
button{font:inherit;padding:.5rem 1.5rem}
"""


def form_page(
    form: Form,
    raw: dict[str, list[Any]] | None = None,
    errors: dict[str, str] | None = None,
    idempotency_key: str = "",
    token: str = "",
    notice: str | None = None,
) -> str:
    """The form, filled with ``raw`` (what the visitor sent) and showing ``errors`` (per
    field) and ``notice`` (about the whole post)."""
    raw = raw or {}
    errors = errors or {}
    parts = [f"<h1>{escape(form.title)}</h1>"]
    if errors or notice:
        items = [f"<li>{escape(notice)}</li>"] if notice else []
        items += [
            f'<li><a href="#{_input_id(f)}">{escape(f.label)}: {escape(errors[f.name])}</a></li>'
            for f in form.fields
            if f.name in errors
        ]
        parts.append(
            '<div class="summary" role="alert" aria-labelledby="summary-title" tabindex="-1">'
            f'<h2 id="summary-title">There is a problem</h2><ul>{"".join(items)}</ul></div>'
        )
    parts.append('<p>Fields marked <span aria-hidden="true">*</span> are required.</p>')
    parts.append('<form method="post" accept-charset="utf-8">')
    parts.append(f'<input type="hidden" name="{KEY_FIELD}" value="{escape(idempotency_key)}">')
    parts.append(f'<input type="hidden" name="{TOKEN_FIELD}" value="{escape(token)}">')
    for field in form.fields:
        parts.append(_field(field, raw.get(field.name, []), errors.get(field.name)))
    parts.append(_honeypot(honeypot_name(form)))
    parts.append('<button type="submit">Send</button></form>')
    title = ("Error: " if errors or notice else "") + form.title
    return _page(title, "".join(parts))


def _honeypot(name: str) -> str:
    # Off screen, out of the tab order and hidden from screen readers: only a program that
    # fills every input it finds puts anything here.
    return (
        f'<div class="trap" aria-hidden="true"><label for="field-{name}">Leave this empty</label>'
        f'<input type="text" id="field-{name}" name="{name}" value="" tabindex="-1" '
        'autocomplete="off"></div>'
    )


def thanks_page(form: Form) -> str:
    body = (
        f"<h1>Thank you</h1><p>We have received your message sent through "
        f"“{escape(form.title)}”. We will be in touch.</p>"
    )
    return _page(f"Thank you: {form.title}", body)


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def _input_id(field: FormField) -> str:
    return f"field-{field.name}" + ("-0" if field.type == "multiselect" else "")


def _field(field: FormField, raw: list[Any], error: str | None) -> str:
    fid = f"field-{field.name}"
    described = []
    hint = error_html = ""
    if field.help:
        hint = f'<p class="hint" id="{fid}-hint">{escape(field.help)}</p>'
        described.append(f"{fid}-hint")
    if error:
        error_html = (
            f'<p class="error" id="{fid}-error"><span class="visually-hidden">Error: </span>'
            f"{escape(error)}</p>"
        )
        described.append(f"{fid}-error")
    aria = f' aria-describedby="{" ".join(described)}"' if described else ""
    aria += ' aria-invalid="true"' if error else ""
    required = " required" if field.required else ""
    marker = (
        ' <span aria-hidden="true">*</span><span class="visually-hidden"> (required)</span>'
        if field.required
        else ""
    )
    label = f"{escape(field.label)}{marker}"
    first = "" if not raw else escape(str(raw[0]))
    if field.type == "multiselect":
        chosen = {str(v) for v in raw}
        boxes = "".join(
            f'<div class="choice"><input type="checkbox" id="{fid}-{i}" name="{field.name}" '
            f'value="{escape(option)}"{" checked" if option in chosen else ""}> '
            f'<label for="{fid}-{i}">{escape(option)}</label></div>'
            for i, option in enumerate(field.options or [])
        )
        return (
            f'<div class="field"><fieldset{aria}><legend>{label}</legend>{hint}{error_html}'
            f"{boxes}</fieldset></div>"
        )
    if field.type == "checkbox":
        checked = " checked" if raw and str(raw[0]).lower() in ("on", "true", "1", "yes") else ""
        return (
            f'<div class="field choice">{error_html}<input type="checkbox" id="{fid}" '
            f'name="{field.name}" value="on"{checked}{required}{aria}> '
            f'<label for="{fid}">{label}</label>{hint}</div>'
        )
    if field.type == "textarea":
        control = (
            f'<textarea id="{fid}" name="{field.name}" maxlength="{field.max_length}"'
            f"{required}{aria}>{first}</textarea>"
        )
    elif field.type == "select":
        options = "".join(
            f'<option value="{escape(o)}"{" selected" if raw and str(raw[0]) == o else ""}>'
            f"{escape(o)}</option>"
            for o in field.options or []
        )
        control = (
            f'<select id="{fid}" name="{field.name}"{required}{aria}>'
            f'<option value="">Choose…</option>{options}</select>'
        )
    else:
        extra = (
            f' autocomplete="{AUTOCOMPLETE[field.maps_to]}"'
            if field.maps_to in AUTOCOMPLETE
            else ""
        )
        extra += ' step="any"' if field.type == "number" else ""
        extra += f' maxlength="{field.max_length}"' if field.type not in ("number", "date") else ""
        control = (
            f'<input type="{INPUT_TYPES[field.type]}" id="{fid}" name="{field.name}" '
            f'value="{first}"{extra}{required}{aria}>'
        )
    return f'<div class="field"><label for="{fid}">{label}</label>{hint}{error_html}{control}</div>'
