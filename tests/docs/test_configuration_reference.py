"""docs/configuration.md is what the settings classes say: every setting of every service,
with a comment saying what it is for. A setting added without one, or without making the
file again (`make docs`), fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

from casestream.settings import ServiceSettings
from casestream.settings_reference import (
    INTRO,
    Undocumented,
    entries,
    reference,
    settings_classes,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_the_reference_is_the_settings_of_every_service() -> None:
    made = reference(settings_classes(), INTRO)
    assert DOC.read_text() == made, "docs/configuration.md is stale: run `make docs`"
    for name, cls in settings_classes().items():
        for entry in entries(cls):
            own = entry.variable.removeprefix(str(cls.model_config["env_prefix"]).upper())
            assert entry.variable in made or f"<PREFIX>{own}" in made, (name, entry.variable)


def test_a_setting_without_a_comment_is_refused() -> None:
    class Settings(ServiceSettings, service="example-svc"):
        # Documented.
        documented: int = 1

        undocumented: str = "x"

    with pytest.raises(Undocumented, match="undocumented"):
        entries(Settings)


def test_the_operators_guide_names_every_dead_letter_topic() -> None:
    from casestream.topics import dead_letter_topic, topic_specs

    guide = (DOC.parents[1] / "deploy" / "README.md").read_text()
    watched = guide[guide.index("**Dead-letter topics to watch.**") :]
    watched = watched[: watched.index("Alert on any growth")]
    topics = [spec.name for spec in topic_specs() if not spec.name.endswith(".dlq")]
    missing = [t for t in topics if f"`{dead_letter_topic(t)}`" not in watched]
    assert not missing, f"deploy/README.md's dead-letter list misses {missing}"
