"""Sign-in for the local stack's console: a signing key pair (the console signs access tokens
with the private key, every service verifies them with the public one) and demo users with
one demo password, all kept in the stack's data folder so they survive ``down`` / ``up``.
Created only here: no user, password or key is built into the services."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from casestream_local.local_secrets import kept_secret

# Who can sign in to the local console (all with the demo password): a caseworker who works
# every case, one who sees only their own, and an administrator who may configure.
DEMO_USERS: dict[str, dict[str, Any]] = {
    "casey": {
        "name": "Casey Worker",
        "email": "casey@example.org",
        "rights": ["cases:*:all", "add_cases"],
    },
    "olive": {
        "name": "Olive Owens",
        "email": "olive@example.org",
        "rights": ["cases:*:own", "add_cases"],
    },
    "admin": {"name": "Ada Admin", "email": "admin@example.org", "rights": ["admin"]},
}


def _folder(data: Path) -> Path:
    folder = data / "console"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def signing_key(data: Path) -> tuple[str, str]:
    """(private PEM, public PEM), made on first use."""
    path = _folder(data) / "signing-key.pem"
    if not path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.write_bytes(pem)
        path.chmod(0o600)
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return path.read_text(), public.decode()


def demo_password(data: Path, given: str | None = None) -> str:
    """The demo users' password: the one given, else the one made for this data folder."""
    return given or kept_secret(data, "demo-password", size=9)


def users_setting(users: dict[str, dict[str, Any]], password: str, data: Path) -> str:
    """CONSOLE_SVC_USERS: the users with an argon2 hash of the password. Hashed once per
    password (a fresh hash at every start would change the setting for nothing)."""
    cache = _folder(data) / "users.json"
    wanted = {"users": users, "password_hint": _hint(password)}
    if cache.exists():
        kept = json.loads(cache.read_text())
        if {k: kept.get(k) for k in wanted} == wanted:
            return json.dumps(kept["setting"])
    hasher = PasswordHasher()
    setting = {
        name: {**user, "password_hash": hasher.hash(password)} for name, user in users.items()
    }
    cache.write_text(json.dumps({**wanted, "setting": setting}))
    cache.chmod(0o600)
    return json.dumps(setting)


def _hint(password: str) -> str:
    """Tells whether the cached hashes were made for this password, without keeping it."""
    import hashlib

    return hashlib.sha256(b"casestream-local:" + password.encode()).hexdigest()
