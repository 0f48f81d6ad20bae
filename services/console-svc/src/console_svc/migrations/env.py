from casestream.persistence.migrations import run_env
from console_svc.tables import metadata

run_env([metadata])
