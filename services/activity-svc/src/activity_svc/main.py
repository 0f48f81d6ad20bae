"""activity-svc: activity types, activities and case timelines."""

from __future__ import annotations

from fastapi import FastAPI

from activity_svc.config import Settings
from activity_svc.events import ActivityRecordEnvelope
from activity_svc.handlers import Handlers
from activity_svc.routes import router
from casestream import topics
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
        topics.CASE_EVENTS, CaseEnvelope, handlers.schedule_standard_timeline, group="timelines"
    )
    runtime.subscribe(
        topics.NOTIFY_EVENTS, EmailEnvelope, handlers.log_sent_email, group="sent_emails"
    )
    declare_publisher(
        broker,
        settings.topic(topics.ACTIVITY_EVENTS),
        ActivityRecordEnvelope,
        "activity.scheduled / activity.completed: the full state of an activity, keyed by "
        "its case id",
    )
    return create_service_app(runtime, title="activity-svc", routers=[router])
