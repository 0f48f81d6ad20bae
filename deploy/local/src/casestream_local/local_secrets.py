"""Secrets the local stack makes once per data folder and keeps there (mode 0600), so they
survive ``down`` / ``up``: the demo users' password, intake-svc's form secret. A deployment
supplies its own; none is built into the services."""

from __future__ import annotations

import secrets
from pathlib import Path


def kept_secret(data: Path, name: str, size: int = 24) -> str:
    folder = data / "secrets"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(size))
        path.chmod(0o600)
    return path.read_text().strip()
