"""Staff HTTP: rules (create, upsert, read, delete) and the log of their firings. Changing
rules and trying them (dry runs) needs ``configure``; any staff token reads them. A firing
follows its case's visibility (over the read model of cases): a token sees the firings of the
cases it may see; a firing on a case not known here, admins only."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Query, Request, Response
from sqlalchemy.dialects.postgresql import insert

from automation_svc import read_models
from automation_svc.dry_run import NotKnown, dry_run
from automation_svc.schemas import (
    ActionState,
    DryRun,
    DryRunIn,
    Firing,
    FiringAction,
    NewRule,
    Rule,
    RuleIn,
)
from automation_svc.tables import cases, firing_actions, firings, rules
from automation_svc.validation import rule_errors
from casestream.commands import forbidden
from casestream.http.auth import Configurer, Staff, StaffUser
from casestream.http.listing import read_page, where_given
from casestream.http.pagination import Cursor, Limit, Page
from casestream.http.state import DB
from casestream.persistence.database import Database
from casestream.persistence.read_models import case_columns
from casestream.visibility import may_see_case_id, on_visible_case

router = APIRouter(tags=["rules"])


def _content(rule: RuleIn) -> dict[str, Any]:
    """The stored form of a rule's definition (JSON columns)."""
    return dict(
        name=rule.name,
        enabled=rule.enabled,
        trigger=rule.trigger.model_dump(mode="json", exclude_none=True),
        conditions=[c.model_dump(mode="json", exclude_none=True) for c in rule.conditions],
        actions=[a.model_dump(mode="json", exclude_none=True) for a in rule.actions],
        cancel_if=[c.model_dump(mode="json", exclude_none=True) for c in rule.cancel_if],
    )


async def _checked(db: Database, rule: RuleIn) -> dict[str, Any]:
    """The rule's stored form, once what it names (templates, statuses, roles, fields) is
    known; 422 naming each field otherwise."""
    async with db.session() as session:
        if errors := await rule_errors(session, rule):
            raise HTTPException(422, errors)
    return _content(rule)


def _not_found(rule_id: uuid.UUID) -> HTTPException:
    return HTTPException(404, f"no rule {rule_id}")


@router.post("/rules", status_code=201, response_model=Rule)
async def create_rule(body: NewRule, staff: Configurer, db: DB) -> Any:
    content = await _checked(db, body)
    async with db.transaction() as tx:
        row = (
            await tx.session.execute(
                insert(rules)
                .values(id=body.id or uuid.uuid4(), version=1, **content)
                .on_conflict_do_nothing()
                .returning(rules)
            )
        ).first()
    if row is None:
        raise HTTPException(409, f"rule {body.id} already exists")
    return row._mapping


@router.put("/rules/{rule_id}", response_model=Rule)
async def put_rule(
    rule_id: uuid.UUID, body: RuleIn, staff: Configurer, db: DB, response: Response
) -> Any:
    """Create or replace the rule with this id. The version goes up when the definition
    changes; repeating the same PUT changes nothing."""
    content = await _checked(db, body)
    async with db.transaction() as tx:
        created = (
            await tx.session.execute(
                insert(rules)
                .values(id=rule_id, version=1, **content)
                .on_conflict_do_nothing()
                .returning(rules)
            )
        ).first()
        if created is not None:
            response.status_code = 201
            return created._mapping
        current = (
            await tx.session.execute(
                sa.select(rules).where(rules.c.id == rule_id).with_for_update()
            )
        ).one()
        if all(getattr(current, k) == v for k, v in content.items()):
            return current._mapping
        updated = (
            await tx.session.execute(
                rules.update()
                .where(rules.c.id == rule_id)
                .values(version=rules.c.version + 1, updated_at=sa.func.now(), **content)
                .returning(rules)
            )
        ).one()
    return updated._mapping


@router.get("/rules", response_model=Page[Rule])
async def list_rules(staff: Staff, db: DB, limit: Limit = 50, cursor: Cursor = None) -> Any:
    order = [rules.c.created_at, rules.c.id]
    async with db.session() as session:
        items, next_cursor = await read_page(session, sa.select(rules), order, cursor, limit)
    return {"items": [r._mapping for r in items], "next_cursor": next_cursor}


@router.get("/rules/{rule_id}", response_model=Rule)
async def get_rule(rule_id: uuid.UUID, staff: Staff, db: DB) -> Any:
    async with db.session() as session:
        row = (await session.execute(sa.select(rules).where(rules.c.id == rule_id))).first()
    if row is None:
        raise _not_found(rule_id)
    return row._mapping


@router.delete("/rules/{rule_id}", status_code=204)
async def delete_rule(rule_id: uuid.UUID, staff: Configurer, db: DB) -> None:
    """The firing log stays; the rule's actions still waiting are cancelled."""
    async with db.transaction() as tx:
        deleted = await tx.session.execute(
            rules.delete().where(rules.c.id == rule_id).returning(rules.c.id)
        )
        if deleted.first() is None:
            raise _not_found(rule_id)
        of_rule = sa.select(firings.c.id).where(firings.c.rule_id == rule_id)
        await tx.session.execute(
            firing_actions.update()
            .where(firing_actions.c.firing_id.in_(of_rule), firing_actions.c.state == "pending")
            .values(state="cancelled", error="rule deleted", updated_at=sa.func.now())
        )


@router.get("/firings", response_model=Page[Firing])
async def list_firings(
    staff: Staff,
    db: DB,
    rule_id: Annotated[uuid.UUID | None, Query()] = None,
    case_id: Annotated[uuid.UUID | None, Query()] = None,
    state: Annotated[ActionState | None, Query(description="with an action in this state")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Any:
    query = sa.select(firings).where(on_visible_case(staff, firings.c.case_id, case_columns(cases)))
    if state is not None:
        query = query.where(
            sa.exists().where(
                firing_actions.c.firing_id == firings.c.id, firing_actions.c.state == state
            )
        )
    query = where_given(query, {firings.c.rule_id: rule_id, firings.c.case_id: case_id})
    order = [firings.c.fired_at, firings.c.id]
    async with db.session() as session:
        items, next_cursor = await read_page(session, query, order, cursor, limit)
        actions = (
            await session.execute(
                sa.select(firing_actions)
                .where(firing_actions.c.firing_id.in_([r.id for r in items]))
                .order_by(
                    firing_actions.c.firing_id,
                    firing_actions.c["index"],
                    firing_actions.c.occurrence,
                )
            )
        ).all()
    by_firing: dict[uuid.UUID, list[FiringAction]] = {}
    for action in actions:
        by_firing.setdefault(action.firing_id, []).append(
            FiringAction.model_validate(action, from_attributes=True)
        )
    return {
        "items": [Firing(**r._mapping, actions=by_firing.get(r.id, [])) for r in items],
        "next_cursor": next_cursor,
    }


@router.post("/rules/{rule_id}/dry-run", response_model=DryRun)
async def try_rule(
    rule_id: uuid.UUID, body: DryRunIn, staff: Configurer, db: DB, request: Request
) -> Any:
    """Would the rule fire on this event (or on this case or activity as it stands), and what
    would each action do? Nothing is written and nothing is sent. Trying it on a case or an
    activity as known here needs the right to see that case."""
    async with db.session() as session:
        await _ensure_can_see_subject(session, staff, body)
        rule = (await session.execute(sa.select(rules).where(rules.c.id == rule_id))).first()
        if rule is None:
            raise _not_found(rule_id)
        try:
            return await dry_run(session, rule, body, request.app.state.clock.now())
        except NotKnown as error:
            raise HTTPException(404, f"{error} is not known here (yet)") from error


async def _ensure_can_see_subject(session: Any, staff: StaffUser, body: DryRunIn) -> None:
    """A dry run on a case or activity known here shows what the read model holds of its
    case: 403 when that case is outside the token's rights (unknown ones: the dry run's
    404)."""
    if body.activity_id is not None:
        known = await read_models.activity_states(session, [body.activity_id])
        case_id = known[body.activity_id].get("case_id") if known else None
    elif body.case_id is not None:
        known = await read_models.case_states(session, [body.case_id])
        case_id = body.case_id
    else:
        return  # an event in the body: the caller's own data
    if known and not await may_see_case_id(session, staff, case_id, case_columns(cases)):
        raise forbidden("this case is outside the token's rights")
