"""deploy/docker: the image installs every workspace package (the console's templates and static
files included) and its ops script knows every service."""

from __future__ import annotations

import importlib.util
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
