"""activity-svc's Table objects describe the database its migrations make: a table, column,
type, nullability, server default, index or foreign key on one side only fails here."""

from activity_svc.all_tables import metadata
from casestream.persistence.tables import messaging_metadata
from casestream.testing.drift import assert_tables_match
from casestream.testing.services import migrated_database

from .conftest import MIGRATIONS


async def test_the_tables_match_the_migrations(create_database):
    url = await migrated_database(create_database, "activity", MIGRATIONS)
    await assert_tables_match(url, [metadata, messaging_metadata])
