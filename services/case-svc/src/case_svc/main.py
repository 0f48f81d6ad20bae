"""case-svc: configuration, contacts and cases."""

from fastapi import FastAPI

from case_svc.config import Settings
from case_svc.expiry import ExpiryWorker
from case_svc.handlers import Handlers
from case_svc.routes import (
    case_actions,
    cases,
    configuration,
    contacts,
    finding,
    invoices,
    quotations,
)
from casestream import topics
from casestream.clock import Clock
from casestream.contracts.activity import ActivityEnvelope
from casestream.contracts.case import (
    CaseCommandEnvelope,
    CaseEnvelope,
    CaseTypeEnvelope,
    ContactEnvelope,
    SubmissionOutcomeEnvelope,
)
from casestream.contracts.intake import SubmissionEnvelope
from casestream.contracts.sales import SalesEnvelope
from casestream.http.app import create_service_app
from casestream.messaging.broker import declare_publisher
from casestream.service import Runtime


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = Runtime(settings, clock)
    broker = runtime.broker
    handlers = Handlers(settings)

    runtime.subscribe(
        topics.INTAKE_SUBMISSIONS,
        SubmissionEnvelope,
        handlers.take_in_submission,
        # The group keeps its first name: a new one would read every submission again.
        group="open_case_for_submission",
        workers=settings.submission_workers,
    )
    runtime.subscribe(
        topics.ACTIVITY_EVENTS,
        ActivityEnvelope,
        handlers.track_activities,
        group="track_activities",
        batched=True,
    )
    runtime.subscribe(
        topics.CASE_COMMANDS,
        CaseCommandEnvelope,
        handlers.run_case_command,
        group="handle_case_command",
    )
    declare_publisher(
        broker,
        settings.topic(topics.CASE_EVENTS),
        CaseEnvelope,
        "Every change to a case, with its full new state",
    )
    declare_publisher(
        broker,
        settings.topic(topics.CASE_SUBMISSION_OUTCOMES),
        SubmissionOutcomeEnvelope,
        "What became of each web form submission (case opened, attached or rejected), "
        "keyed by submission id",
    )
    declare_publisher(
        broker, settings.topic(topics.CONTACT_EVENTS), ContactEnvelope, "Every change to a contact"
    )
    declare_publisher(
        broker,
        settings.topic(topics.CASETYPE_EVENTS),
        CaseTypeEnvelope,
        "Each new version of a case type definition",
    )
    declare_publisher(
        broker,
        settings.topic(topics.SALES_EVENTS),
        SalesEnvelope,
        "Every change to a quotation or invoice, with its full new state and what changed",
    )
    expiry = ExpiryWorker(runtime.database, settings, runtime.clock)

    app = create_service_app(
        runtime,
        title="case-svc",
        routers=[
            configuration.router,
            contacts.router,
            finding.router,
            cases.router,
            case_actions.router,
            quotations.router,
            invoices.router,
        ],
        workers=[("quotation expiry", expiry.run)],
    )
    app.state.expiry = expiry

    return app
