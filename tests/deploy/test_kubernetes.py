"""deploy/k8s: each overlay, rendered by kustomize, runs the six services with settings they can
read; the console is reached through an Ingress and reaches the five APIs through their
Services; every service accepts the console's signed tokens; no sign-in secret is committed.
A container's environment is put together as the kubelet does it (envFrom with prefixes, then
env), with the Secrets that base/secrets.template.yaml tells the operator to create."""

from __future__ import annotations

import base64
import functools
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
import yaml
from argon2 import PasswordHasher

from .deploy_files import APIS, CONSOLE, DEPLOY, SERVICES, Service
from .test_compose import signing_key_pem, users

K8S = DEPLOY / "k8s"
OVERLAYS = ("dev", "prod")
TEMPLATE = K8S / "base" / "secrets.template.yaml"

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl kustomize")


@functools.cache
def render(overlay: str) -> tuple[dict[str, Any], ...]:
    out = subprocess.run(
        ["kubectl", "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def find(docs: tuple[dict[str, Any], ...], kind: str, name: str) -> dict[str, Any]:
    """By name; a generated ConfigMap or Secret by the name before its hash."""
    for doc in docs:
        actual = doc["metadata"]["name"]
        if doc["kind"] == kind and (actual == name or actual.rpartition("-")[0] == name):
            return doc
    raise LookupError(f"{kind} {name}")


def secret_data(secret: dict[str, Any]) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    return data | (secret.get("stringData") or {})


@functools.cache
def operator_secrets() -> dict[str, dict[str, str]]:
    """The Secrets an operator creates from the template, with a real key and users (made once:
    every container that imports them sees the same)."""
    made = {
        doc["metadata"]["name"]: secret_data(doc)
        for doc in yaml.safe_load_all(TEMPLATE.read_text())
    }
    made["console-signin"] |= {"SIGNING_KEY": signing_key_pem(), "USERS": json.dumps(users())}
    return made


def secret(docs: tuple[dict[str, Any], ...], name: str) -> dict[str, str]:
    try:
        return secret_data(find(docs, "Secret", name))
    except LookupError:
        return operator_secrets()[name]


def container_env(docs: tuple[dict[str, Any], ...], container: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        if ref := source.get("configMapRef"):
            data = find(docs, "ConfigMap", ref["name"])["data"]
        else:
            data = secret(docs, source["secretRef"]["name"])
        env |= {prefix + key: value for key, value in data.items()}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        elif ref := item["valueFrom"].get("secretKeyRef"):
            env[item["name"]] = secret(docs, ref["name"])[ref["key"]]
        else:
            ref = item["valueFrom"]["configMapKeyRef"]
            env[item["name"]] = find(docs, "ConfigMap", ref["name"])["data"][ref["key"]]
    return env


def deployment(docs: tuple[dict[str, Any], ...], service: Service) -> dict[str, Any]:
    return find(docs, "Deployment", service.name)["spec"]["template"]["spec"]


def serving(docs: tuple[dict[str, Any], ...], service: Service) -> dict[str, Any]:
    return next(c for c in deployment(docs, service)["containers"] if c["name"] == service.name)


def settings(docs: tuple[dict[str, Any], ...], service: Service) -> Any:
    return service.settings(container_env(docs, serving(docs, service)))


def port_named(container: dict[str, Any], name: str) -> int:
    return next(p["containerPort"] for p in container["ports"] if p["name"] == name)


def served_port(docs: tuple[dict[str, Any], ...], host: str, port: int) -> tuple[Service, int]:
    """Which service's pods a Service name and port reach, and on which container port."""
    service = find(docs, "Service", host)
    selector = service["spec"]["selector"]
    target = next(p["targetPort"] for p in service["spec"]["ports"] if p["port"] == port)
    for candidate in SERVICES:
        labels = find(docs, "Deployment", candidate.name)["spec"]["template"]["metadata"]["labels"]
        if selector.items() <= labels.items():
            container = serving(docs, candidate)
            return candidate, port_named(container, target) if isinstance(target, str) else target
    raise LookupError(f"no Deployment behind Service {host}")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_runs_with_a_migration_job_and_a_wait_for_it(overlay: str) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "await_prerequisites", DEPLOY / "docker" / "await_prerequisites.py"
    )
    assert spec and spec.loader
    waiting = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(waiting)

    docs = render(overlay)
    for service in SERVICES:
        pod = deployment(docs, service)
        assert serving(docs, service)["command"] == [service.name, "serve"]
        await_command = pod["initContainers"][0]["command"]
        assert await_command[2] == service.name and service.name in waiting.SERVICES
        job = find(docs, "Job", f"{service.name}-migrate")["spec"]["template"]["spec"]
        assert job["containers"][0]["command"] == [service.name, "migrate"]
        migrate_env = container_env(docs, job["containers"][0])
        assert service.settings(migrate_env).database_url == settings(docs, service).database_url, (
            service.name
        )
        find(docs, "PodDisruptionBudget", service.name)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_checks_tokens_against_the_consoles_keys(overlay: str) -> None:
    docs = render(overlay)
    console = settings(docs, CONSOLE)
    jwks = urlsplit(console.jwt_jwks_url)
    assert jwks.path == "/.well-known/jwks.json"
    # The JWKS URL's Service reaches the console's pods on the port the console serves.
    assert served_port(docs, str(jwks.hostname), int(jwks.port or 80)) == (
        CONSOLE,
        console.http_port,
    )
    for service in APIS:
        mine = settings(docs, service)
        assert mine.jwt_jwks_url == console.jwt_jwks_url, service.name
        assert (mine.jwt_issuer, mine.jwt_audience, mine.jwt_rights_claim) == (
            console.jwt_issuer,
            console.jwt_audience,
            console.jwt_rights_claim,
        ), service.name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_console_reaches_each_api_through_its_service(overlay: str) -> None:
    docs = render(overlay)
    console = settings(docs, CONSOLE)
    assert set(console.service_urls) == {service.name for service in APIS}
    for service in APIS:
        url = urlsplit(console.service_urls[service.name])
        reached, port = served_port(docs, str(url.hostname), int(url.port or 80))
        assert reached == service
        assert port == settings(docs, service).http_port
        assert settings(docs, service).http_host == "0.0.0.0"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_console_has_probes_resources_and_counts_the_ingress_hop(overlay: str) -> None:
    docs = render(overlay)
    container = serving(docs, CONSOLE)
    console = settings(docs, CONSOLE)
    assert port_named(container, "http") == console.http_port
    assert console.http_host == "0.0.0.0"
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    assert "memory" in container["resources"]["limits"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # One ingress controller in front: its X-Forwarded-For entry is the client.
    assert console.trusted_proxy_hops == 1
    assert console.public_intake_url


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_ingress_routes_to_the_console(overlay: str) -> None:
    docs = render(overlay)
    ingress = find(docs, "Ingress", CONSOLE.name)["spec"]
    backends = [
        path["backend"]["service"] for rule in ingress["rules"] for path in rule["http"]["paths"]
    ]
    assert backends == [{"name": "console-svc", "port": {"name": "http"}}]
    assert served_port(docs, "console-svc", 8060) == (CONSOLE, settings(docs, CONSOLE).http_port)
    if overlay == "prod":
        host = ingress["rules"][0]["host"]
        assert ingress["tls"][0]["hosts"] == [host]
        assert settings(docs, CONSOLE).cookie_secure is True


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_sign_in_secret_is_committed(overlay: str) -> None:
    docs = render(overlay)
    with pytest.raises(LookupError):
        find(docs, "Secret", "console-signin")
    template = operator_secrets()["console-signin"]
    # The operator's Secret, made as the template says, signs people in.
    console = CONSOLE.settings(container_env(docs, serving(docs, CONSOLE)))
    assert console.signing_key == template["SIGNING_KEY"]
    assert PasswordHasher().verify(console.users["casey"].password_hash, "a long passphrase")


def test_the_secret_template_covers_the_console() -> None:
    template = {
        doc["metadata"]["name"]: secret_data(doc)
        for doc in yaml.safe_load_all(TEMPLATE.read_text())
    }
    assert {"SIGNING_KEY", "USERS"} <= template["console-signin"].keys()
    json.loads(template["console-signin"]["USERS"])
    url = sa.make_url(template["casestream-database-urls"]["console-svc"])
    assert url.database == "casestream_console"
    dev = secret_data(find(render("dev"), "Secret", "casestream-database-urls"))
    assert sa.make_url(dev["console-svc"]).database == "casestream_console"


def _validator() -> str | None:
    return shutil.which("kubernetes-validate", path=str(DEPLOY.parent / ".venv" / "bin")) or (
        shutil.which("kubernetes-validate")
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_manifests_match_the_kubernetes_schemas(overlay: str, tmp_path: Path) -> None:
    validator = _validator()
    if validator is None:
        pytest.skip("no kubernetes-validate (pip install kubernetes-validate)")
    rendered = tmp_path / f"{overlay}.yaml"
    rendered.write_text(yaml.safe_dump_all(render(overlay)))
    answer = subprocess.run(
        [validator, "--strict", "--quiet", str(rendered), str(TEMPLATE)],
        capture_output=True,
        text=True,
    )
    assert answer.returncode == 0, answer.stdout + answer.stderr


def test_prod_lets_in_only_what_it_names_and_scales_no_further_than_the_partitions() -> None:
    docs = render("prod")
    policies = {d["metadata"]["name"]: d for d in docs if d["kind"] == "NetworkPolicy"}
    deny = policies["default-deny-ingress"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}
    # Every pod that serves HTTP is reachable by the console (or the ingress) at all.
    apis = policies["apis-from-the-console-and-clients"]["spec"]
    assert apis["podSelector"]["matchLabels"] == {"app.kubernetes.io/component": "service"}
    partitions = int(find(docs, "ConfigMap", "casestream-topics")["data"]["TOPIC_PARTITIONS"])
    scalers = {
        d["spec"]["scaleTargetRef"]["name"]: d["spec"]
        for d in docs
        if d["kind"] == "HorizontalPodAutoscaler"
    }
    assert set(scalers) == {s.name for s in SERVICES}
    for name, spec in scalers.items():
        replicas = find(docs, "Deployment", name)["spec"]["replicas"]
        assert spec["minReplicas"] <= replicas <= spec["maxReplicas"] <= partitions, name
