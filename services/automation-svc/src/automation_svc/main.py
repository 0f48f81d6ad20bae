"""automation-svc: rules that turn events into commands for the other services."""

from __future__ import annotations

from fastapi import FastAPI

from automation_svc.config import Settings
from automation_svc.handlers import Handlers
from automation_svc.routes import router
from casestream import topics
from casestream.contracts.case import CaseEnvelope
from casestream.contracts.notify import SendEmailEnvelope
from casestream.http.app import create_service_app
from casestream.messaging.broker import declare_publisher
from casestream.service import Runtime


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = Runtime(settings)
    handlers = Handlers(settings)
    runtime.subscribe(
        topics.CASE_EVENTS, CaseEnvelope, handlers.fire_rules_on_case_event, group="fire_rules"
    )
    declare_publisher(
        runtime.broker,
        settings.topic(topics.NOTIFY_COMMANDS),
        SendEmailEnvelope,
        "notify.send_email: a rule's send_email action; id and notification_id are the "
        "firing action's id (deterministic)",
    )
    return create_service_app(runtime, title="automation-svc", routers=[router])
