"""automation-svc: rules that turn events into commands for the other services, at once or
when their durable timers come due."""

from __future__ import annotations

from fastapi import FastAPI

from automation_svc.config import Settings
from automation_svc.handlers import Handlers
from automation_svc.redrive import redrive_commands
from automation_svc.routes import router
from automation_svc.timers import TimerWorker
from casestream import topics
from casestream.clock import Clock, SystemClock
from casestream.contracts.activity import ActivityCommandEnvelope, ActivityEnvelope
from casestream.contracts.case import CaseCommandEnvelope, CaseEnvelope, CaseTypeEnvelope
from casestream.contracts.notify import EmailEnvelope, SendEmailEnvelope, TemplateEnvelope
from casestream.contracts.sales import SalesEnvelope
from casestream.http.app import create_service_app
from casestream.messaging.broker import declare_publisher
from casestream.service import Runtime


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()
    clock = clock or SystemClock()
    runtime = Runtime(settings)
    timers = TimerWorker(runtime.database, settings, clock)
    handlers = Handlers(settings, clock, timers.wake)
    # Batched: a poll's events in one go (their cases locked, remembered and read together).
    runtime.subscribe(
        topics.CASE_EVENTS,
        CaseEnvelope,
        handlers.fire_rules_on_case_events,
        group="case_rules",
        batched=True,
    )
    runtime.subscribe(
        topics.ACTIVITY_EVENTS,
        ActivityEnvelope,
        handlers.fire_rules_on_activity_events,
        group="activity_rules",
        batched=True,
        holds=True,  # an activity event that came before its case waits for it
    )
    runtime.subscribe(
        topics.SALES_EVENTS,
        SalesEnvelope,
        handlers.fire_rules_on_sales_events,
        group="sales_rules",
        batched=True,
        holds=True,  # a quotation event that came before its case waits for it
    )
    runtime.subscribe(
        topics.CASETYPE_EVENTS, CaseTypeEnvelope, handlers.remember_case_type, group="case_types"
    )
    runtime.subscribe(
        topics.NOTIFY_TEMPLATES, TemplateEnvelope, handlers.remember_template, group="templates"
    )
    runtime.subscribe(
        topics.NOTIFY_EVENTS, EmailEnvelope, handlers.learn_email_outcome, group="email_outcomes"
    )
    for topic, contract, what in (
        (topics.NOTIFY_COMMANDS, SendEmailEnvelope, "notify.send_email: a send_email action"),
        (
            topics.CASE_COMMANDS,
            CaseCommandEnvelope,
            "case.change_status / assign / add_role / add_tags: a rule's case actions",
        ),
        (
            topics.ACTIVITY_COMMANDS,
            ActivityCommandEnvelope,
            "activity.schedule: a schedule_activity action",
        ),
    ):
        declare_publisher(
            runtime.broker,
            settings.topic(topic),
            contract,
            f"{what}; the envelope id is the action's id (deterministic, one per occurrence; a "
            "send_email sent again for want of an outcome has one of its own per attempt)",
        )
    app = create_service_app(
        runtime,
        title="automation-svc",
        routers=[router],
        workers=[
            ("timers", timers.run),
            ("redrive", lambda: redrive_commands(runtime.database, settings)),
        ],
    )
    app.state.clock = clock
    app.state.timers = timers
    return app
