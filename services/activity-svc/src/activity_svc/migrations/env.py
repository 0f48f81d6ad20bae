from casestream.persistence.migrations import run_env

run_env()
