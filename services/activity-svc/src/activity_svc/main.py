"""activity-svc: activity types, activities and case timelines."""

from __future__ import annotations

from fastapi import FastAPI

from activity_svc.config import Settings
from activity_svc.handlers import Handlers
from activity_svc.routes import router
from activity_svc.timeline_routes import router as timeline_router
from casestream import topics
from casestream.contracts.activity import ActivityCommandEnvelope, ActivityEnvelope
from casestream.contracts.case import CaseEnvelope, CaseTypeEnvelope
from casestream.contracts.notify import EmailEnvelope
from casestream.http.app import create_service_app
from casestream.messaging.broker import declare_publisher
from casestream.service import Runtime


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = Runtime(settings)
    handlers = Handlers(settings)
    broker = runtime.broker
    runtime.subscribe(
        topics.CASETYPE_EVENTS,
        CaseTypeEnvelope,
        handlers.store_case_type_version,
        group="case_type_versions",
    )
    runtime.subscribe(
        topics.CASE_EVENTS,
        CaseEnvelope,
        handlers.follow_cases,
        # One group since 0006 (it was "timelines" and "case_view"): a new name, so it reads
        # case.events again from the start; what is done already is skipped by version.
        group="cases",
        batched=True,
        holds=True,  # a case whose case type has not arrived yet waits for it
    )
    runtime.subscribe(
        topics.NOTIFY_EVENTS, EmailEnvelope, handlers.log_sent_email, group="sent_emails"
    )
    runtime.subscribe(
        topics.ACTIVITY_COMMANDS,
        ActivityCommandEnvelope,
        handlers.run_activity_command,
        group="activity_commands",
        holds=True,  # so may a command that schedules from the case type
    )
    declare_publisher(
        broker,
        settings.topic(topics.ACTIVITY_EVENTS),
        ActivityEnvelope,
        "activity.scheduled / completed / cancelled / updated: the full state of an activity "
        "and what changed, keyed by its case id",
    )
    return create_service_app(runtime, title="activity-svc", routers=[router, timeline_router])
