"""intake-svc: public web forms whose submissions become contacts and cases."""

from __future__ import annotations

from fastapi import FastAPI

from casestream import topics
from casestream.contracts.case import CaseEnvelope, CaseTypeEnvelope, SubmissionOutcomeEnvelope
from casestream.contracts.intake import SubmissionEnvelope
from casestream.http.app import create_service_app
from casestream.logging import get_logger
from casestream.messaging.broker import declare_publisher
from casestream.service import Runtime
from casestream.startup import SettingsError
from intake_svc import public_routes, staff_routes
from intake_svc.config import Settings
from intake_svc.defences import PostLimits
from intake_svc.forms import FormCache
from intake_svc.handlers import Handlers
from intake_svc.submissions import redrive_submissions

log = get_logger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    if not settings.form_secret or len(settings.form_secret) < 16:
        raise SettingsError(
            "INTAKE_SVC_FORM_SECRET must be set to a long random value (16 characters or "
            "more): the web forms' render tokens are signed with it"
        )
    runtime = Runtime(settings)
    handlers = Handlers()
    declare_publisher(
        runtime.broker,
        settings.topic(topics.INTAKE_SUBMISSIONS),
        SubmissionEnvelope,
        "intake.submission_received: a stored web form submission (again, attempt + 1, when "
        "staff retry a rejected one), keyed by the submitter's lowercased email",
    )
    runtime.subscribe(
        topics.CASE_SUBMISSION_OUTCOMES,
        SubmissionOutcomeEnvelope,
        handlers.record_outcomes,
        group="submission_outcomes",
        batched=True,
    )
    # Submissions follow their case's visibility (submission_rights): a read model, batched.
    runtime.subscribe(
        topics.CASE_EVENTS, CaseEnvelope, handlers.remember_cases, group="cases", batched=True
    )
    runtime.subscribe(
        topics.CASETYPE_EVENTS, CaseTypeEnvelope, handlers.learn_case_type, group="case_types"
    )
    app = create_service_app(
        runtime,
        title="intake-svc",
        routers=[staff_routes.router, public_routes.router],
        workers=[("redrive", lambda: redrive_submissions(runtime.database, settings))],
    )
    app.state.post_limits = PostLimits(settings, runtime.database)
    app.state.forms = FormCache(runtime.database, settings)
    return app
