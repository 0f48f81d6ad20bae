"""The short fault campaign (``bench/faults.py --short``): the local stack with two replicas of
every service, each fault in turn under a small load (kill -9 of each service and of the
broker, a PostgreSQL restart, the SMTP sink down, a replica frozen past its session timeout,
every service stopped and started). Nothing may be lost or doubled. ``make faults`` runs the
full one (docs/faults.md has its last figures)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.timeout(1200)
def test_the_short_fault_campaign_loses_and_doubles_nothing() -> None:
    done = subprocess.run(
        [sys.executable, "faults.py", "--short"],
        cwd=BENCH,
        capture_output=True,
        text=True,
        timeout=1150,
    )
    report = done.stdout[done.stdout.find("\nfault ") :]
    print(done.stdout[-6000:], done.stderr[-3000:])
    assert done.returncode == 0, report or done.stdout[-4000:] + done.stderr[-4000:]
    # Every fault had its round, each counted.
    for fault in ("kill-9 every service", "broker-kill", "postgres-restart", "sigterm all"):
        assert f"\n{fault} " in report
    assert "0 lost, 0 duplicated: OK" in report
