"""Every table of case-svc's database on one MetaData: ``case_svc.tables.metadata``, once the
modules that define tables of their own on it are imported. For what compares the models
with the migrations (migrations/env.py, the drift test)."""

from case_svc import activity_view, dashboard, submissions
from case_svc.tables import metadata

# Imported for the tables they add to metadata.
__all__ = ["activity_view", "dashboard", "metadata", "submissions"]
