"""The sales pipeline of a sales instance, as case-svc's ``GET /dashboard/pipeline`` sums it:
per status, the forecast by expected-close month, the win rate, per owner and the overdue
invoices. Money is shown per currency, never added up across currencies. Each chart is an
inline SVG with a summary in words and a table of the same numbers beside it."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from console_svc.pages.instances import instance_named
from console_svc.pages.pipeline_chart import bar_chart, money, month_label
from console_svc.services_api import CASE, Refused
from console_svc.web import CurrentPage, templates

router = APIRouter()

SALES = "sales_opportunity"
# What the filter form passes on to GET /dashboard/pipeline.
FILTERS = ("case_type", "owner", "currency", "closed_from", "closed_to")

templates.env.filters["money"] = money
templates.env.filters["month_label"] = month_label


@router.get("/i/{name}/pipeline", response_class=HTMLResponse)
async def sales_pipeline(page: CurrentPage, request: Request, name: str) -> Response:
    instances = await page.instances()
    instance = instance_named(instances, name)
    if instance.get("instance_type") != SALES:
        raise Refused(404, f"{instance['label']} is not a sales instance: it has no pipeline.")
    filters = _filters(request)
    found = await page.gather(
        pipeline=page.api.get(CASE, "/dashboard/pipeline", instance=name, **filters),
        case_types=page.api.get(CASE, "/case-types"),
    )
    pipeline, error = found["pipeline"], None
    if isinstance(pipeline, Refused):
        if pipeline.status != 422:
            raise pipeline
        pipeline, error = None, pipeline  # a filter it did not take: the form says which
    case_types = found["case_types"]
    if isinstance(case_types, Refused):
        case_types = []
    return await page.render(
        "pipeline.html",
        status_code=422 if error else 200,
        instances=instances,
        instance=instance,
        filters=filters,
        error=error,
        case_types=[t for t in case_types if t.get("instance") == name],
        pipeline=pipeline,
        **(_figures(pipeline) if pipeline else {}),
    )


def _filters(request: Request) -> dict[str, str]:
    filters = {f: request.query_params.get(f, "").strip() for f in FILTERS}
    filters["currency"] = filters["currency"].upper()
    return {f: value for f, value in filters.items() if value}


def _figures(pipeline: dict[str, Any]) -> dict[str, Any]:
    """The answer's lines grouped per currency, with a chart for each currency."""
    by_status = _per_currency(pipeline["by_status"])
    forecast = _per_currency(pipeline["forecast"])
    return {
        "by_status": by_status,
        "forecast": forecast,
        "status_charts": {
            currency: bar_chart(
                f"Open and closed opportunities in {currency or 'no currency'} by status",
                currency,
                [(s["status_label"], s["amount"], s["weighted_amount"]) for s in lines],
            )
            for currency, lines in by_status.items()
        },
        "forecast_charts": {
            currency: bar_chart(
                f"Forecast in {currency or 'no currency'} by expected-close month",
                currency,
                [(month_label(m["month"]), m["amount"], m["weighted_amount"]) for m in lines],
            )
            for currency, lines in forecast.items()
        },
    }


def _per_currency(lines: list[dict[str, Any]]) -> dict[str | None, list[dict[str, Any]]]:
    grouped: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        grouped[line["currency"]].append(line)
    return dict(sorted(grouped.items(), key=lambda item: item[0] or ""))
