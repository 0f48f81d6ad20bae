"""intake-svc: public web forms whose submissions become contacts and cases."""

from __future__ import annotations

from fastapi import FastAPI

from casestream import topics
from casestream.contracts.case import CaseEnvelope
from casestream.contracts.intake import SubmissionEnvelope
from casestream.http.app import create_service_app
from casestream.messaging.broker import declare_publisher
from casestream.service import Runtime
from intake_svc import public_routes, staff_routes
from intake_svc.config import Settings
from intake_svc.handlers import track_case_opened


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = Runtime(settings)
    declare_publisher(
        runtime.broker,
        settings.topic(topics.INTAKE_SUBMISSIONS),
        SubmissionEnvelope,
        "intake.submission_received: a stored web form submission, keyed by the submitter's "
        "lowercased email",
    )
    runtime.subscribe(
        topics.CASE_EVENTS, CaseEnvelope, track_case_opened, group="track_submissions"
    )
    return create_service_app(
        runtime,
        title="intake-svc",
        routers=[staff_routes.router, public_routes.router],
    )
