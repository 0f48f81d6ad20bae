"""``notify-svc serve`` runs the service; ``notify-svc migrate`` brings its database up to date."""

from pathlib import Path

from casestream.service import run_cli
from notify_svc.config import Settings
from notify_svc.main import create_app


def main() -> None:
    run_cli(
        settings_factory=Settings,
        app_factory=create_app,
        migrations=Path(__file__).parent / "migrations",
    )


if __name__ == "__main__":
    main()
