"""notify-svc: email templates, and emails rendered from its read model of cases and
contacts, sent over SMTP by a delivery worker and reported on notify.events."""

from __future__ import annotations

from fastapi import FastAPI

from casestream import topics
from casestream.contracts.case import CaseEnvelope, ContactEnvelope
from casestream.contracts.notify import EmailEnvelope, SendEmailEnvelope, TemplateEnvelope
from casestream.http.app import create_service_app
from casestream.messaging.broker import declare_publisher
from casestream.service import Runtime
from notify_svc import email_routes, template_routes
from notify_svc.config import Settings
from notify_svc.delivery import DeliveryWorker
from notify_svc.handlers import Handlers


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = Runtime(settings)
    broker, db = runtime.broker, runtime.database
    worker = DeliveryWorker(db, settings)
    handlers = Handlers(settings, wake_delivery=worker.wake)
    # Read models: a whole batch in a few statements.
    runtime.subscribe(
        topics.CASE_EVENTS,
        CaseEnvelope,
        handlers.remember_case,
        group="remember_case",
        batched=True,
    )
    runtime.subscribe(
        topics.CONTACT_EVENTS,
        ContactEnvelope,
        handlers.remember_contact,
        group="remember_contact",
        batched=True,
    )
    runtime.subscribe(
        topics.NOTIFY_COMMANDS,
        SendEmailEnvelope,
        handlers.queue_email,
        group="queue_email",
        holds=True,  # a command about a case not heard of yet waits for it
        gave_up=handlers.never_heard_of_its_case,
    )
    declare_publisher(
        broker,
        settings.topic(topics.NOTIFY_EVENTS),
        EmailEnvelope,
        "notify.email_sent / notify.email_failed / notify.email_suppressed: an email's full "
        "state once its fate is known; keyed by case id",
    )
    declare_publisher(
        broker,
        settings.topic(topics.NOTIFY_TEMPLATES),
        TemplateEnvelope,
        "notify.template_saved: a template as saved (on every PUT); keyed by its name",
    )
    return create_service_app(
        runtime,
        title="notify-svc",
        routers=[template_routes.router, email_routes.router],
        workers=[("delivery", worker.run)],
    )
