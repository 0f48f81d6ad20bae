"""``automation-svc serve`` runs the service; ``automation-svc migrate`` brings its database up to date."""

from pathlib import Path

from automation_svc.config import Settings
from automation_svc.main import create_app
from casestream.service import run_cli


def main() -> None:
    run_cli(
        settings_factory=Settings,
        app_factory=create_app,
        migrations=Path(__file__).parent / "migrations",
    )


if __name__ == "__main__":
    main()
