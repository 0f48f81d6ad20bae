"""the system type of web form submissions logged on their case

Revision ID: 0004
"""

from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.execute(
        "INSERT INTO activity_types (name, label, system) "
        "VALUES ('web_form', 'Web form submission', true) "
        "ON CONFLICT (name) DO UPDATE SET system = true"
    )


def downgrade() -> None:
    op.execute(
        "DELETE FROM activity_types WHERE name = 'web_form' "
        "AND name NOT IN (SELECT type FROM activities)"
    )
