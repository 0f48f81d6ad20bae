"""Staff HTTP: email templates, and previews of them rendered for a case. Saving a template
needs ``configure``; any staff token reads them (caseworkers choose them); a preview renders a
case, so it needs the right to see that case."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from sqlalchemy.dialects.postgresql import insert

from casestream import topics
from casestream.commands import forbidden
from casestream.http.auth import Configurer, Staff
from casestream.http.pagination import Cursor, Limit, Page, keyset, page_of
from casestream.http.state import DB
from casestream.persistence.read_models import case_columns
from casestream.visibility import may_see_case_id
from notify_svc.config import Settings
from notify_svc.drafting import CaseNotKnown, draft_email
from notify_svc.events import template_saved
from notify_svc.recipients import staff_directory
from notify_svc.rendering import CannotRender
from notify_svc.schemas import Preview, PreviewIn, Template, TemplateIn, template_errors
from notify_svc.tables import cases, templates

router = APIRouter(tags=["templates"])

TemplateName = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,100}$")]


def config(request: Request) -> Settings:
    return request.app.state.settings


Config = Annotated[Settings, Depends(config)]


@router.put("/templates/{name}", response_model=Template)
async def put_template(
    name: TemplateName,
    body: TemplateIn,
    staff: Configurer,
    db: DB,
    settings: Config,
    response: Response,
) -> Any:
    """Create or replace. Refused (422) unless every part compiles and uses only the known
    names (case, client, clients, roles, activity) and their known fields. Each save is
    announced on notify.templates, in the same transaction."""
    if errors := template_errors(body.model_dump()):
        raise HTTPException(422, errors)
    upsert = insert(templates).values(name=name, **body.model_dump())
    async with db.transaction() as tx:
        row = (
            await tx.session.execute(
                upsert.on_conflict_do_update(
                    index_elements=[templates.c.name],
                    set_={
                        **{k: upsert.excluded[k] for k in ("subject", "body_text", "body_html")},
                        "updated_at": sa.func.now(),
                    },
                )
                # xmax is 0 for a row this statement inserted
                .returning(templates, (sa.literal_column("xmax") == 0).label("created"))
            )
        ).one()
        await tx.publish(settings.topic(topics.NOTIFY_TEMPLATES), template_saved(row))
    if row.created:
        response.status_code = 201
    return row._mapping


@router.get("/templates", response_model=Page[Template])
async def list_templates(staff: Staff, db: DB, limit: Limit = 50, cursor: Cursor = None) -> Any:
    query = (
        sa.select(templates)
        .where(keyset([templates.c.name], cursor))
        .order_by(templates.c.name)
        .limit(limit + 1)
    )
    async with db.session() as session:
        rows = (await session.execute(query)).all()
    items, next_cursor = page_of(rows, limit, lambda r: [r.name])
    return {"items": [r._mapping for r in items], "next_cursor": next_cursor}


@router.get("/templates/{name}", response_model=Template)
async def get_template(name: TemplateName, staff: Staff, db: DB) -> Any:
    async with db.session() as session:
        row = (await session.execute(sa.select(templates).where(templates.c.name == name))).first()
    if row is None:
        raise HTTPException(404, f"no template {name!r}")
    return row._mapping


@router.post("/templates/{name}/preview", response_model=Preview)
async def preview_template(
    name: TemplateName, body: PreviewIn, staff: Staff, db: DB, settings: Config
) -> Any:
    """The template rendered for a case the read model knows, and who it would go to."""
    async with db.session() as session:
        if not await may_see_case_id(session, staff, body.case_id, case_columns(cases)):
            raise forbidden("this case is outside the token's rights (or not known here yet)")
        if (
            await session.execute(sa.select(templates.c.name).where(templates.c.name == name))
        ).first() is None:
            raise HTTPException(404, f"no template {name!r}")
        try:
            draft = await draft_email(
                session,
                case_id=body.case_id,
                to_spec=body.to,
                template=name,
                inline={},
                activity=body.activity,
                staff=staff_directory(settings.staff_tokens),
            )
        except CaseNotKnown as error:
            raise HTTPException(404, f"case {body.case_id} is not known here (yet)") from error
        except CannotRender as error:
            raise HTTPException(
                422,
                [
                    {
                        "loc": ["body", "case_id"],
                        "type": "value_error",
                        "msg": f"cannot render for this case: {error}",
                    }
                ],
            ) from error
    return Preview(
        subject=draft.subject,
        body_text=draft.body_text,
        body_html=draft.body_html,
        recipients=[r.as_dict() for r in draft.recipients],
        unresolved=draft.unresolved,
    )
