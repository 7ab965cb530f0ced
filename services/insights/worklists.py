"""HTTP routes of insights for worklists: alerts (and acknowledging them), customer profiles,
lifecycle stages. What the console lists and acts on; ``api.py`` holds the per-customer views."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args

import asyncpg
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response

from services.insights import acknowledgements, store, wording
from services.insights import profile as pf
from services.insights import responses as out
from services.insights.api import (
    UNKNOWN_CUSTOMER,
    AsOfText,
    _as_of,
    _decode_cursor,
    _encode_cursor,
    _parse_as_of,
    _round,
    ensure_sees,
)
from shared.auth import Principal
from shared.errors import NotFound
from shared.events import AlertKind, LifecycleStage, Segment
from shared.http import IdempotencyKeyHeader, Problem, Reply, json_response, require
from shared.outbox import append
from shared.scopes import scope_of
from shared.writes import write_once

router = APIRouter(tags=["insights"])


def _language(lang: wording.Lang) -> dict[str, str]:
    return {"Content-Language": "zh-CN" if lang == "zh" else "en"}


def alert_item(r: asyncpg.Record, lang: wording.Lang) -> dict[str, Any]:
    """An alert as ``GET /alerts`` lists it (``out.AlertItem``)."""
    return {
        "alert_id": str(r["alert_id"]), "customer_id": str(r["customer_id"]), "external_ref": r["external_ref"],
        "owner": r["owner"], "segment": r["segment"], "stage": r["stage"], "kind": r["kind"],
        "status": r["status"], "raised_at": r["raised_at"].isoformat(),
        "cleared_at": r["cleared_at"].isoformat() if r["cleared_at"] else None,
        "rule_version": r["rule_version"], "evidence": r["evidence"],
        "explanation": wording.explain_alert(r["kind"], r["evidence"], lang),
        "cleared_reason": r["cleared_reason"], "cleared_evidence": r["cleared_evidence"],
        "acknowledged_at": r["acknowledged_at"].isoformat() if r["acknowledged_at"] else None,
        "acknowledged_by": r["acknowledged_by"], "note": r["acknowledgement_note"],
    }


@router.get("/alerts", response_model=out.AlertPage, summary="Alerts, newest first, with their evidence",
            description="A salesperson sees the alerts of their own customers and of the pool's; another owner's "
            "`customer_id` is a 403 naming the owner.", responses={403: UNKNOWN_CUSTOMER[403]})
async def list_alerts(
    request: Request,
    kind: AlertKind | None = None,
    status: Literal["open", "cleared"] | None = None,
    segment: Segment | None = None,
    owner: str | None = None,
    customer_id: uuid.UUID | None = None,
    acknowledged: Annotated[bool | None, Query(description="Only alerts someone acknowledged (true) or nobody "
                                                "has yet (false).")] = None,
    raised_before: Annotated[AsOfText | None, _as_of("Only alerts raised before this time (a worklist of "
                                                     "alerts older than some days).")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
    accept_language: Annotated[str | None, Header()] = None,
    principal: Principal = require("insights:read"),
) -> Response:
    lang = wording.preferred_language(accept_language)
    before = _parse_as_of(raised_before, request, "raised_before")
    async with request.app.state.runtime.pool.acquire() as conn:
        if customer_id is not None:
            await ensure_sees(conn, principal, customer_id)
        rows = await store.alerts_page(conn, kind=kind, status=status, segment=segment, owner=owner,
                                       customer_id=customer_id, acknowledged=acknowledged,
                                       raised_before=pf.to_datetime(before) if before is not None else None,
                                       after=_decode_cursor(cursor), limit=limit,
                                       owner_filter=scope_of(principal).owner_filter)
    next_cursor = _encode_cursor(rows[-1]["raised_at"], rows[-1]["alert_id"]) if len(rows) == limit else None
    return json_response(200, {"items": [alert_item(r, lang) for r in rows], "next_cursor": next_cursor},
                         _language(lang))


@router.post(
    "/alerts/{alert_id:uuid}/acknowledge",
    response_model=out.AlertItem,
    summary="Say an alert was taken in hand, and what was done",
    description="Records who (the caller), when (now) and the note on the alert, publishes `AlertAcknowledged` "
    "and puts it on the customer's timeline. The alert stays open until its condition clears. An alert is "
    "acknowledged once: a second acknowledgement is a 409 naming who acknowledged it and when (the same "
    "`Idempotency-Key` again returns the first answer instead).",
    responses={404: {"model": Problem, "description": "No such alert"}, 403: UNKNOWN_CUSTOMER[403],
               409: {"model": Problem, "description": "Already acknowledged (`acknowledged_by`, `acknowledged_at`)"}},
)
async def acknowledge_alert(
    alert_id: uuid.UUID,
    body: acknowledgements.Acknowledgement,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    accept_language: Annotated[str | None, Header()] = None,
    principal: Principal = require("alerts:acknowledge"),
) -> Response:
    lang = wording.preferred_language(accept_language)

    async def write(conn: asyncpg.Connection) -> Reply:
        await store.hold_clock_for_write(conn)
        alert = await store.alert_to_acknowledge(conn, alert_id)
        if alert is None:
            raise NotFound(f"no alert {alert_id}")
        await ensure_sees(conn, principal, alert["customer_id"])
        held = (alert["acknowledged_by"], alert["acknowledged_at"]) if alert["acknowledged_at"] else None
        event = acknowledgements.acknowledge(
            alert_id=alert_id, customer_id=alert["customer_id"], kind=alert["kind"], acknowledged=held,
            by=principal.name, note=body.note, now=datetime.now(UTC))
        [event_id] = await append(conn, event)
        await store.acknowledge_alert(conn, event, event_id)
        return Reply(200, alert_item(await store.alert_by_id(conn, alert_id), lang), _language(lang))

    return await write_once(request, principal, idempotency_key, write)


@router.get("/profiles", response_model=out.ProfilePage,
            summary="Customer summaries: segment, stage, value, risk, open alerts; filtered, in customer id order",
            description="A salesperson sees their own customers and the pool's.")
async def list_profiles(
    request: Request,
    segment: Segment | None = None,
    stage: LifecycleStage | None = None,
    owner: Annotated[str | None, Query(max_length=64, description="The staff member, exactly.")] = None,
    has_open_alert: Annotated[bool | None, Query(description="Only customers with (true) or without (false) "
                                                  "an open alert.")] = None,
    ids: Annotated[list[uuid.UUID] | None,
                   Query(alias="id", max_length=500, description="Only these customers (repeat the parameter); "
                         "ids insights has no profile of are left out.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[uuid.UUID | None, Query(description="The last customer_id of the page before.")] = None,
    principal: Principal = require("insights:read"),
) -> Response:
    async with request.app.state.runtime.pool.acquire() as conn:
        rows = await store.profiles_page(conn, segment=segment, stage=stage, owner=owner,
                                         has_open_alert=has_open_alert, ids=ids, after=cursor, limit=limit,
                                         owner_filter=scope_of(principal).owner_filter)
    items = [
        {
            "customer_id": str(r["customer_id"]), "external_ref": r["external_ref"], "owner": r["owner"],
            "segment": r["segment"], "stage": r["stage"], "loyal": r["loyal"],
            "churn_risk": _round(r["churn_risk"], 4), "p_alive": _round(r["p_alive"], 4),
            "expected_value_90d": f"{r['expected_value_90d']:.2f}" if r["expected_value_90d"] is not None else None,
            "spent": f"{r['spent']:.2f}", "purchase_days": r["purchase_days"],
            "last_purchase_at": r["last_purchase_at"].isoformat() if r["last_purchase_at"] else None,
            "open_alerts": r["open_alerts"],
        }
        for r in rows
    ]
    next_cursor = str(rows[-1]["customer_id"]) if len(rows) == limit else None
    return json_response(200, {"items": items, "next_cursor": next_cursor})


@router.get("/stages", response_model=out.Stages, summary="Customers and value per lifecycle stage",
            description="A salesperson counts their own customers and the pool's.")
async def list_stages(
    request: Request, accept_language: Annotated[str | None, Header()] = None,
    principal: Principal = require("insights:read"),
) -> Response:
    lang = wording.preferred_language(accept_language)
    async with request.app.state.runtime.pool.acquire() as conn:
        found = {r["stage"]: r for r in await store.stages(conn, scope_of(principal).owner_filter)}
    items = []
    for stage in get_args(LifecycleStage):
        r = found.get(stage)
        items.append({
            "stage": stage,
            "label": wording.STAGES_ZH.get(stage, stage) if lang == "zh" else stage,
            "customers": r["customers"] if r else 0, "loyal": r["loyal"] if r else 0,
            "open_alerts": int(r["open_alerts"] or 0) if r else 0,
            "spent": _money_of(r["spent"] if r else None), "expected_value_90d": _money_of(r["expected_value_90d"] if r else None),
            "mean_churn_risk": _round(r["mean_churn_risk"], 4) if r else None,
        })
    return json_response(200, {"items": items, "rule": "exploration (registered, or one purchase day), formation "
                               "(a second purchase day), stability (a regular: its own rhythm), decline (a regular "
                               "overdue or buying less), lost (a long absence); see README"}, _language(lang))


def _money_of(value: Any) -> str:
    return f"{(value or 0):.2f}"
