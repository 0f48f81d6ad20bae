"""What ``casestream-local up`` prints once everything is ready."""

from __future__ import annotations

import json
import shlex
from typing import Any


def describe(config: Any, info: dict[str, Any]) -> str:
    token = info["token"]
    services: dict[str, str] = info["services"]
    lines = ["", "casestream is up.", ""]
    console = services.get("console-svc")
    for name, url in services.items():
        if name != "console-svc":
            lines.append(f"  {name:<15} {url:<24} API docs: {url}/docs")
    lines += [
        f"  {'SMTP sink':<15} smtp://{info['smtp']:<17} messages: {info['smtp_http']}/messages",
        f"  {'PostgreSQL':<15} {info['database_url']}",
        f"  {'Kafka broker':<15} {info['kafka_bootstrap']}",
        f"  {'logs':<15} {info['logs']}/<name>.log",
        "",
        f"Staff token: {token}   (send it as: Authorization: Bearer {token})",
    ]
    if console:
        users = info.get("console_users") or {}
        password = info.get("demo_password")
        lines += [
            "",
            f"Staff console: {console}",
            f"  sign in as casey / {password}   (a caseworker: every case)",
            *(
                f"          or {name} / {password}   ({label})"
                for name, label in users.items()
                if name != "casey"
            ),
        ]
    lines += [
        "",
        "",
        "Try it:",
    ]
    auth = shlex.quote(f"Authorization: Bearer {token}")
    if "case-svc" in services:
        lines.append(f"  curl -s -H {auth} {services['case-svc']}/case-types")
    if "intake-svc" in services:
        intake = services["intake-svc"]
        submission = json.dumps(
            {
                "first_name": "Ada",
                "last_name": "Lovelace",
                "email": "ada@example.org",
                "subject": "Broken streetlight",
                "message": "The light on Elm Street is out.",
            }
        )
        lines += [
            f"  open {intake}/f/contact   (the demo web form, in a browser)",
            f"  curl -s -X POST {intake}/f/contact -H 'Content-Type: application/json' \\",
            '       -H "Idempotency-Key: $RANDOM$RANDOM" \\',
            f"       -d {shlex.quote(submission)}",
        ]
    if "case-svc" in services:
        lines.append(f"  curl -s -H {auth} '{services['case-svc']}/cases?q=streetlight'")
    lines += [
        f"  curl -s {info['smtp_http']}/messages   (the acknowledgement email arrives here)",
        "",
        "Stop it with: make down   (or: uv run casestream-local down)",
    ]
    return "\n".join(lines)
