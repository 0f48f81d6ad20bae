"""pytest fixtures shared by every service's tests: a real PostgreSQL and a real
Kafka-protocol broker (see plugin.py)."""
