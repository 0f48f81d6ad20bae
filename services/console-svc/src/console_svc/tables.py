"""The console's own tables: who is signed in, and recent failed sign-ins. No case data."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()

sessions = sa.Table(
    "sessions",
    metadata,
    # The SHA-256 of the cookie's secret: a copy of this table signs no one in.
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("user", sa.Text, nullable=False),
    sa.Column("name", sa.Text),
    sa.Column("email", sa.Text),
    sa.Column("rights", JSONB, nullable=False),
    sa.Column("access_token", sa.Text, nullable=False),
    sa.Column("access_expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("refresh_token", sa.Text),
    sa.Column("csrf", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("sessions_expires_at", "expires_at"),
)

signin_failures = sa.Table(
    "signin_failures",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),  # "user:<name>" or "address:<ip>"
    sa.Column("window_start", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("n", sa.Integer, nullable=False),
)
