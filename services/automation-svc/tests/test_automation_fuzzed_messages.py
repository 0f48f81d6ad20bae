"""Every topic automation-svc consumes gets bad records (casestream.testing.message_fuzz):
each goes to its dead-letter topic with why, and the partition moves on to a valid marker
after them."""

from __future__ import annotations

from automation_svc.config import Settings
from automation_svc.main import create_app
from casestream.testing.harness import service_fixture
from casestream.testing.message_fuzz import assert_bad_records_dead_lettered

from .conftest import MIGRATIONS

# An app of its own: the markers' case types and templates would show in the session app's
# lists of known names, which other tests read whole.
fuzzed = service_fixture(create_app, Settings, MIGRATIONS, scope="module", name="automation")


async def test_bad_records_are_dead_lettered_and_the_partition_moves_on(fuzzed):
    await assert_bad_records_dead_lettered(fuzzed)
