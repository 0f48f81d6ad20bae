"""Migration steps that every service's history takes alike, because the outbox they change
is the same shared table in each service's database. A service's revision module imports
``upgrade`` and ``downgrade`` from here; alembic runs them in that revision's context."""

from __future__ import annotations

from alembic import op

from casestream.persistence.tables import add_parked_index, drop_parked_index


def parked_index_upgrade() -> None:
    add_parked_index(op.get_bind())


def parked_index_downgrade() -> None:
    drop_parked_index(op.get_bind())
