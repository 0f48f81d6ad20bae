"""The processes the local stack started, written down in ``<data_dir>/stack.json`` so a later
``down`` stops exactly those and nothing else.

A pid alone is not enough to recognise a process later (pids are reused), so each record also
keeps the process's start time from ``/proc``; a pid whose start time differs is someone else's.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

# Popen objects of the children this process started, so their exit is reaped (no zombies
# looking alive to os.kill(pid, 0)).
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass
class ProcessRecord:
    name: str
    pid: int
    what: str
    started: str | None = None  # /proc start time (clock ticks since boot)
    log: str | None = None
    port: int | None = None
    kind: str = "process"  # or "embedded-postgres": stopped with pg_ctl
    data_dir: str | None = None


@dataclass
class StackState:
    path: Path
    processes: dict[str, ProcessRecord] = field(default_factory=dict)
    info: dict[str, object] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> StackState:
        if not path.exists():
            return cls(path)
        data = json.loads(path.read_text())
        records = [ProcessRecord(**r) for r in data.get("processes", [])]
        return cls(path, {r.name: r for r in records}, data.get("info", {}))

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "updated_at": datetime.now(UTC).isoformat(),
            "processes": [asdict(r) for r in self.processes.values()],
            "info": self.info,
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(self.path)

    def record(self, record: ProcessRecord) -> None:
        self.processes[record.name] = record
        self.save()

    def forget(self, names: Iterable[str]) -> None:
        for name in names:
            self.processes.pop(name, None)
        if self.processes:
            self.save()
        else:
            self.path.unlink(missing_ok=True)


def start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime); the command name (field 2) may hold spaces, so count from its ')'.
    return stat.rsplit(")", 1)[1].split()[19]


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def is_running(record: ProcessRecord) -> bool:
    child = _children.get(record.pid)
    if child is not None and child.poll() is not None:
        return False
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, belongs to another user
    if _zombie(record.pid):
        return False
    return record.started is None or start_time(record.pid) == record.started


def adopt(name: str, popen: subprocess.Popen[bytes], what: str, **extra: object) -> ProcessRecord:
    """A record for a child started elsewhere (e.g. by devinfra)."""
    _children[popen.pid] = popen
    return ProcessRecord(
        name=name, pid=popen.pid, what=what, started=start_time(popen.pid), **extra
    )  # type: ignore[arg-type]


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    env: dict[str, str],
    log_path: Path,
    cwd: Path,
    port: int | None = None,
) -> ProcessRecord:
    """Start a process in its own session (it outlives us, and Ctrl+C in our terminal does not
    reach it), output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"\n=== {datetime.now(UTC).isoformat()} {' '.join(argv)}\n".encode())
        log.flush()
        popen = subprocess.Popen(
            list(argv),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    what = " ".join(argv)
    return adopt(name, popen, what, log=str(log_path), port=port)


def terminate(records: Sequence[ProcessRecord], timeout_s: float = 25.0) -> list[str]:
    """SIGTERM each running record's process group, wait, SIGKILL what is left. Returns the
    names of the records that are no longer running."""
    for record in records:
        if is_running(record):
            send_signal(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while any(is_running(r) for r in records) and time.monotonic() < deadline:
        time.sleep(0.1)
    for record in records:
        if is_running(record):
            send_signal(record.pid, signal.SIGKILL)
    time.sleep(0.1)
    for record in records:
        child = _children.pop(record.pid, None)
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(5)
    return [r.name for r in records if not is_running(r)]


def send_signal(pid: int, sig: signal.Signals) -> None:
    # Our processes lead their own session: the group holds them and their children only.
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def log_tail(path: str | Path | None, lines: int = 40) -> str:
    if path is None:
        return ""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])
