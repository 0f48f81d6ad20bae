from activity_svc.all_tables import metadata
from casestream.persistence.migrations import run_env
from casestream.persistence.tables import messaging_metadata

# What autogenerate compares the migrations with: this service's tables and the shared ones.
run_env([metadata, messaging_metadata])
