"""Prometheus metrics every service exposes at /metrics, labelled by service."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

messages_consumed = Counter(
    "casestream_messages_consumed_total",
    "Messages consumed, by outcome (processed, duplicate, dead_lettered)",
    ["service", "topic", "outcome"],
)
messages_published = Counter(
    "casestream_messages_published_total",
    "Messages published by the outbox relay",
    ["service", "topic"],
)
messages_dead_lettered = Counter(
    "casestream_messages_dead_lettered_total",
    "Messages sent to a dead-letter topic",
    ["service", "topic"],
)
messages_held = Counter(
    "casestream_messages_held_total",
    "Messages held because they came before what they need",
    ["consumer"],
)
handler_retries = Counter(
    "casestream_handler_retries_total",
    "Handler attempts that failed and were retried",
    ["service", "topic"],
)
batch_seconds = Histogram(
    "casestream_batch_seconds",
    "Time to handle one polled batch of messages and commit its offsets",
    ["service", "topic"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
batch_size = Histogram(
    "casestream_batch_size",
    "Messages in one polled batch",
    ["service", "topic"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)
outbox_backlog = Gauge(
    "casestream_outbox_backlog", "Outbox rows waiting to be published", ["service"]
)
outbox_parked = Gauge(
    "casestream_outbox_parked", "Outbox rows parked after repeated failures", ["service"]
)
redriven = Counter(
    "casestream_redriven_total",
    "Hand-overs sent again by their owner because no outcome came in time, by message type",
    ["service", "type"],
)
http_requests = Counter(
    "casestream_http_requests_total",
    "HTTP requests answered, by route (its template, not the path) and status",
    ["service", "method", "route", "status"],
)
http_request_seconds = Histogram(
    "casestream_http_request_seconds",
    "Time to answer an HTTP request, by route",
    ["service", "method", "route"],
    buckets=(0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
