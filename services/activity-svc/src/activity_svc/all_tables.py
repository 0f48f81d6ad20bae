"""Every table of activity-svc's database on one MetaData: ``activity_svc.tables.metadata``,
once the modules that define tables of their own on it are imported. For what compares the
models with the migrations (migrations/env.py, the drift test)."""

from activity_svc import cases, timeline_tables
from activity_svc.tables import metadata

# Imported for the tables they add to metadata.
__all__ = ["cases", "metadata", "timeline_tables"]
