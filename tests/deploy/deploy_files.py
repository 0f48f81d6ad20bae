"""What the deployment tests share: the six services, and each one's own ``Settings`` built from
an environment as a container would get it (so a setting the service cannot read, or reads
wrongly, fails here rather than in a cluster)."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


@dataclass(frozen=True)
class Service:
    name: str

    @property
    def package(self) -> str:
        return self.name.replace("-", "_")

    @property
    def prefix(self) -> str:
        return self.name.upper().replace("-", "_") + "_"

    def settings(self, env: dict[str, str]) -> Any:
        """This service's settings from ``env`` alone (nothing of this process's own)."""
        config = importlib.import_module(f"{self.package}.config")
        mine = {k: v for k, v in os.environ.items() if not k.startswith(self.prefix)}
        with mock.patch.dict(os.environ, {**mine, **env}, clear=True):
            return config.Settings()


APIS = tuple(
    Service(name)
    for name in ("case-svc", "activity-svc", "automation-svc", "notify-svc", "intake-svc")
)
CONSOLE = Service("console-svc")
SERVICES = (*APIS, CONSOLE)
