"""HTTP routes of insights: read the unified customer view."""

from __future__ import annotations

import base64
import binascii
import csv
import io
import re
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from services.insights import domain, engine, service, store, wording
from services.insights import profile as pf
from services.insights import responses as out
from shared.auth import Principal
from shared.errors import Conflict, FieldProblem, Invalid, NotFound
from shared.events import BUSINESS_TIME_PATTERN, BusinessTime
from shared.http import Problem, json_response, require
from shared.scopes import ensure_covers, scope_of

router = APIRouter(tags=["insights"])


class TimelinePage(BaseModel):
    items: list[wording.TimelineItem]
    next_cursor: str | None


UNKNOWN_CUSTOMER: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "insights has seen no event of this customer"},
    403: {"model": Problem, "description": "the customer is outside a salesperson's scope (`code: out_of_scope`, "
                                           "naming the `owner`)"},
}


async def ensure_sees(conn: asyncpg.Connection, principal: Principal, customer_id: uuid.UUID) -> None:
    """A salesperson reads and acts on their own customers and the pool's only (403 ``OutOfScope``)."""
    scope = scope_of(principal)
    if not scope.everyone:
        ensure_covers(scope, customer_id, await store.owner_of(conn, customer_id))


async def _known(conn: asyncpg.Connection, customer_id: uuid.UUID) -> bool:
    """The one rule for both customer routes: insights knows a customer once an event of theirs
    is on the timeline (a known customer without events of some type is still known)."""
    return bool(await store.timeline_page(conn, customer_id, after=None, event_type=None, limit=1))


def _unknown(customer_id: uuid.UUID) -> NotFound:
    return NotFound(f"insights has seen no event of customer {customer_id}")


@router.get(
    "/customers/{customer_id:uuid}/timeline",
    response_model=TimelinePage,
    summary="Everything that happened with a customer, in business-time order",
    responses=UNKNOWN_CUSTOMER,
)
async def customer_timeline(
    customer_id: uuid.UUID,
    request: Request,
    type: Annotated[str | None, Query(description="Only this event type, e.g. OrderPlaced.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
    accept_language: Annotated[str | None, Header()] = None,
    principal: Principal = require("insights:read"),
) -> Response:
    lang = wording.preferred_language(accept_language)
    async with request.app.state.runtime.pool.acquire() as conn:
        await ensure_sees(conn, principal, customer_id)
        rows = await store.timeline_page(
            conn, customer_id, after=_decode_cursor(cursor), event_type=type, limit=limit
        )
        if not rows and not await _known(conn, customer_id):
            raise _unknown(customer_id)
    items = [
        {
            "event_id": str(r["event_id"]),
            "type": r["event_type"],
            "source": r["source"],
            "occurred_at": r["occurred_at"].isoformat(),
            "recorded_at": r["recorded_at"].isoformat(),
            "summary": wording.summarize(r["event_type"], r["data"], lang),
            "data": r["data"],
        }
        for r in rows
    ]
    next_cursor = _encode_cursor(rows[-1]["occurred_at"], rows[-1]["event_id"]) if len(rows) == limit else None
    return json_response(200, {"items": items, "next_cursor": next_cursor},
                         {"Content-Language": "zh-CN" if lang == "zh" else "en"})


def _encode_cursor(occurred_at: datetime, event_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{occurred_at.isoformat()}|{event_id}".encode()).decode()


def _decode_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if cursor is None:
        return None
    try:
        when, _, ident = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(when), uuid.UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise Invalid("cursor is not one this API gave out",
                      errors=[FieldProblem("query.cursor", "invalid cursor")]) from exc


# --- profiles, alerts, segments, export ---------------------------------------------------------


_DATE_PATTERN = r"^(19|2[0-9])[0-9][0-9]-[0-9][0-9]-[0-9][0-9]$"


# What ``_parse_as_of`` takes, as the OpenAPI document says it.
AsOfText = Annotated[str, Field(json_schema_extra={"anyOf": [{"format": "date", "pattern": _DATE_PATTERN},
                                                             {"format": "date-time", "pattern": BUSINESS_TIME_PATTERN}]})]


def _as_of(description: str) -> Any:
    """The ``as_of`` query parameter: a date or an RFC 3339 time."""
    return Query(description=description + " A date (YYYY-MM-DD: the end of that day in the shop's time zone) "
                 "or an RFC 3339 time with its UTC offset (within ±14:00), years 1900 to 2999.")


_BUSINESS_TIME: TypeAdapter[datetime] = TypeAdapter(BusinessTime)


def _parse_as_of(value: str | None, request: Request, field: str = "as_of") -> float | None:
    """RFC 3339 (as every business time), or a date meaning the end of that day in the shop's time zone."""
    if value is None:
        return None
    try:
        if re.fullmatch(_DATE_PATTERN, value):
            day = date.fromisoformat(value)
            return pf.day_start(day.toordinal() + 1, request.app.state.projector.zone)
        return _BUSINESS_TIME.validate_python(value).timestamp()
    except ValidationError as exc:
        raise Invalid.field(f"query.{field}", exc.errors()[0]["msg"]) from exc
    except ValueError as exc:  # a date that does not exist: 2026-02-30
        raise Invalid.field(f"query.{field}", str(exc)) from exc


def _money(cents: float | None) -> str | None:
    return None if cents is None else f"{Decimal(str(round(cents))) / 100:.2f}"


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def insights_body(profile: pf.Profile, a: domain.Assessment, lang: wording.Lang, population: domain.Population,
                  zone: tzinfo) -> dict[str, Any]:
    status = profile.status
    next_expected = None
    if a.typical_gap_days is not None and profile.days:
        next_expected = pf.to_datetime(pf.day_start(profile.days[-1].day, zone) + a.typical_gap_days * pf.DAY_S)
    alerts: list[dict[str, Any]] = [
        {
            "alert_id": alert.alert_id, "kind": kind, "raised_at": pf.to_datetime(alert.raised_at).isoformat(),
            "rule_version": domain.RULE_VERSION, "evidence": {"ticket_id": None, "due_at": None, **alert.evidence},
            "explanation": wording.explain_alert(kind, alert.evidence, lang),
        }
        for kind, alert in sorted(status.alerts.items(), key=lambda kv: kv[1].raised_at)
    ]
    alerts.extend(ticket_alerts(profile, a.as_of, lang))
    alerts.sort(key=lambda alert: str(alert["raised_at"]))
    return {
        "customer_id": profile.customer_id,
        "external_ref": profile.external_ref,
        "owner": profile.owner,
        "as_of": pf.to_datetime(a.as_of).isoformat(),
        "rule_version": domain.RULE_VERSION,
        "model_version": population.version,
        "recency_days": a.recency_days,
        "frequency": {"purchase_days": a.purchase_days, "orders": profile.orders},
        "monetary": {"total": _money(profile.cents),
                     "average_per_purchase_day": _money(profile.cents / a.purchase_days) if a.purchase_days else None,
                     # left out of every figure above: amounts in different currencies are never added
                     "other_currencies": {code: {"orders": n, "amount": _money(c)}
                                          for code, (n, c) in sorted(profile.other_currencies.items())}},
        "first_purchase_at": pf.to_datetime(profile.first_purchase_at).isoformat() if profile.first_purchase_at else None,
        "last_purchase_at": pf.to_datetime(profile.last_purchase_at).isoformat() if profile.last_purchase_at else None,
        "rhythm": {
            "typical_gap_days": a.typical_gap_days, "gap_spread_days": _round(a.gap_spread_days),
            "longest_gap_days": a.longest_gap_days, "overdue_after_days": _round(a.overdue_after_days),
            "next_purchase_expected_at": next_expected.isoformat() if next_expected else None,
        },
        "basket": {
            "usual_quantity": _round(a.usual_quantity), "recent_quantity": _round(a.recent_quantity),
            "usual_amount": _money(a.usual_cents), "recent_amount": _money(a.recent_cents),
        },
        "p_alive": _round(a.p_alive, 4),
        "expected_purchases_90d": round(a.expected_purchases_90d, 4),
        "expected_value_90d": _money(a.expected_value_90d * 100),
        "churn_risk": round(a.churn_risk, 4),
        "model_churn_risk": round(a.model_churn_risk, 4),
        "service": service_body(profile, a, lang),
        "rfm": {"recency": a.recency_score, "frequency": a.frequency_score, "monetary": a.monetary_score},
        "segment": a.segment,
        "loyal": a.loyal,
        "lifecycle": {
            "stage": a.stage, "reason": a.stage_reason,
            "explanation": wording.explain_stage(a.stage_reason, a.stage_evidence.as_json(), lang),
            "evidence": a.stage_evidence.as_json(),
            "since": pf.to_datetime(status.stage_since).isoformat() if status.stage_since and status.stage == a.stage else None,
        },
        "open_alerts": alerts,
    }


def ticket_alerts(profile: pf.Profile, as_of: float, lang: wording.Lang) -> list[dict[str, Any]]:
    """The open complaint_unanswered alerts (one per complaint, kept in the service state)."""
    items = []
    for c in profile.service.open_alerts():
        if c.due_at is None or c.due_at > as_of:
            continue
        evidence = {"baseline": None, "observed": c.late_hours, "threshold": None, "unit": "hours",
                    "event_ids": [i for i in (c.breach_event, c.opened_event) if i], "ticket_id": c.ticket_id,
                    "due_at": pf.to_datetime(c.due_at).isoformat()}
        items.append({"alert_id": str(service.alert_id(profile.customer_id, c.ticket_id)), "kind": service.ALERT_KIND,
                      "raised_at": pf.to_datetime(c.due_at).isoformat(), "rule_version": domain.RULE_VERSION,
                      "evidence": evidence, "explanation": wording.explain_alert(service.ALERT_KIND, evidence, lang)})
    return items


def service_body(profile: pf.Profile, a: domain.Assessment, lang: wording.Lang) -> dict[str, Any]:
    """The service part of the churn risk and what it rests on (service.py)."""
    served = profile.service
    complaints = [
        {"ticket_id": c.ticket_id, "opened_at": pf.to_datetime(c.opened_at).isoformat() if c.opened_at else None,
         "age_days": round(max(a.as_of - c.opened_at, 0.0) / pf.DAY_S, 2) if c.opened_at is not None else None,
         "priority": c.priority, "responsibility": c.responsibility, "reopened": c.reopened,
         "unanswered": c.alert_open() and c.due_at is not None and c.due_at <= a.as_of,
         "first_response_due_at": pf.to_datetime(c.due_at).isoformat() if c.due_at is not None else None}
        for c in sorted(served.complaints.values(), key=lambda c: (c.opened_at or 0.0, c.ticket_id))
        if not c.done and (c.opened_at is None or c.opened_at <= a.as_of)
    ]
    latest = served.satisfaction
    return {
        "risk": round(a.service.risk, 4),
        "open_complaints": complaints,
        "unresolved_subjective_causes": [c["ticket_id"] for c in complaints if c["responsibility"] == "ours"],
        "latest_satisfaction": {"score": latest[1], "at": pf.to_datetime(latest[0]).isoformat(),
                                "event_id": latest[2]} if latest else None,
        "evidence": [
            {"reason": p.reason, "risk": round(p.risk, 4), "ticket_id": p.ticket_id, "event_id": p.event_id,
             "since": pf.to_datetime(p.since).isoformat() if p.since is not None else None, "age_days": p.age_days,
             "explanation": wording.explain_service(p, lang)}
            for p in a.service.parts
        ],
        "rule": "churn_risk = 1 − (1 − model_churn_risk) × (1 − service.risk); service.risk = 1 − Π(1 − part) "
                "over the parts in evidence (docs/insights.md)",
    }


@router.get("/customers/{customer_id:uuid}/insights", response_model=out.CustomerInsights,
            summary="A customer's rhythm, value, stage, segment and open alerts", responses=UNKNOWN_CUSTOMER)
async def customer_insights(
    customer_id: uuid.UUID,
    request: Request,
    as_of: Annotated[AsOfText | None, _as_of("Evaluate at this time (default: now); not before the customer's "
                                        "last event.")] = None,
    accept_language: Annotated[str | None, Header()] = None,
    principal: Principal = require("insights:read"),
) -> Response:
    projector = request.app.state.projector
    lang = wording.preferred_language(accept_language)
    async with request.app.state.runtime.pool.acquire() as conn:
        await ensure_sees(conn, principal, customer_id)
        owner = await store.owner_of(conn, customer_id)
        row = await store.profile_by_id(conn, customer_id)
        if row is None and not await _known(conn, customer_id):
            raise _unknown(customer_id)
        watermark, _swept = await store.clock(conn)
        population = await projector.population(conn)
    # Known without a profile: only events that build none (a ticket) have arrived so far.
    profile = pf.from_json(str(customer_id), row["state"]) if row else pf.Profile(customer_id=str(customer_id))
    when = _parse_as_of(as_of, request)
    last_event = profile.evaluated_at or 0.0
    if when is None:
        when = max(projector.now(watermark), last_event)
    elif when < last_event:
        raise Invalid("as_of is before the customer's last evaluated event "
                      f"({pf.to_datetime(last_event).isoformat()})",
                      errors=[FieldProblem("query.as_of", "before the customer's last event")])
    a = domain.assess(profile, when, population, projector.zone)
    body = insights_body(profile, a, lang, population, projector.zone)
    body["owner"] = owner  # today's, not the one the customer was registered with
    return json_response(200, body,
                         {"Content-Language": "zh-CN" if lang == "zh" else "en"})


@router.get("/segments", response_model=out.Segments, summary="Customers and value per segment",
            description="A salesperson counts their own customers and the pool's.")
async def list_segments(
    request: Request, accept_language: Annotated[str | None, Header()] = None,
    principal: Principal = require("insights:read"),
) -> Response:
    lang = wording.preferred_language(accept_language)
    async with request.app.state.runtime.pool.acquire() as conn:
        rows = await store.segments(conn, scope_of(principal).owner_filter)
    items = [
        {
            "segment": r["segment"],
            "label": wording.SEGMENTS_ZH.get(r["segment"], r["segment"]) if lang == "zh" else r["segment"].replace("_", " "),
            "customers": r["customers"], "loyal": r["loyal"], "open_alerts": int(r["open_alerts"] or 0),
            "spent": f"{r['spent']:.2f}", "expected_value_90d": f"{(r['expected_value_90d'] or 0):.2f}",
            "mean_churn_risk": _round(r["mean_churn_risk"], 4),
        }
        for r in rows
    ]
    return json_response(200, {"items": items, "rule": "RFM: recency, frequency and monetary scores 1-5 "
                               "by the quintiles of the last population fit; the segment follows recency "
                               "and frequency (see README)"})


EXPORT_COLUMNS = ("customer_id", "customer_ref", "churn_risk", "p_alive", "expected_purchases_90d",
                  "expected_value_90d", "segment", "lifecycle_stage", "loyal", "open_alerts", "recency_days",
                  "purchase_days", "total_spent")


@router.get("/export/insights.csv", summary="Every customer's scores as of a time, as CSV",
            description="A salesperson exports their own customers and the pool's.", response_class=StreamingResponse)
async def export_insights(
    request: Request,
    as_of: Annotated[AsOfText | None, _as_of("Score as of this time (default: now).")] = None,
    principal: Principal = require("insights:read"),
) -> Response:
    owner_filter = scope_of(principal).owner_filter
    projector = request.app.state.projector
    pool = request.app.state.runtime.pool
    when = _parse_as_of(as_of, request)
    async with pool.acquire() as conn:
        watermark, _swept = await store.clock(conn)
        fitted = await store.model_at(conn, pf.to_datetime(when)) if when is not None else None
        population = (engine.population_from_json(fitted["version"], fitted["as_of"].timestamp(), fitted["model"],
                                                  fitted["cuts"]) if fitted else await projector.population(conn))
    when = when if when is not None else projector.now(watermark)
    as_of_dt = pf.to_datetime(when)

    async def rows() -> AsyncIterator[bytes]:
        yield (",".join(EXPORT_COLUMNS) + "\r\n").encode()
        after = uuid.UUID(int=0)
        while True:
            async with pool.acquire() as conn:
                page = await store.all_profiles(conn, after, 2000, owner_filter)
                open_counts = await store.open_alerts_at(conn, [r["customer_id"] for r in page], as_of_dt)
            if not page:
                return
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180; and a \r in a text gets quoted
            for r in page:
                profile = pf.as_of_view(pf.from_json(str(r["customer_id"]), r["state"]), when, projector.zone)
                a = domain.assess(profile, max(when, profile.evaluated_at or when) if profile.days else when,
                              population, projector.zone)
                writer.writerow([
                    profile.customer_id, profile.external_ref or "", f"{a.churn_risk:.6f}",
                    "" if a.p_alive is None else f"{a.p_alive:.6f}", f"{a.expected_purchases_90d:.6f}",
                    _money(a.expected_value_90d * 100), a.segment, a.stage, str(a.loyal).lower(),
                    open_counts.get(r["customer_id"], 0),
                    "" if a.recency_days is None else a.recency_days, a.purchase_days, _money(profile.cents),
                ])
            yield out.getvalue().encode()
            after = page[-1]["customer_id"]

    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="insights-{as_of_dt.date()}.csv"'})


@router.post("/model/refit", response_model=out.PopulationModel,
             summary="Refit the population model now (or as of a past time)",
             responses={409: {"model": Problem, "description": "Not enough data: too few buying customers (or "
                                                               "repeat buyers) to fit the model"}})
async def refit_model(
    request: Request,
    as_of: Annotated[AsOfText | None, _as_of("Fit on the data as it stood then (default: now).")] = None,
    _: Principal = require("admin"),
) -> Response:
    projector = request.app.state.projector
    when = _parse_as_of(as_of, request)
    async with request.app.state.runtime.long_connection() as conn, conn.transaction():
        watermark, _swept = await store.lock_clock(conn)
        when = when if when is not None else projector.now(watermark)
        states = await store.all_states(conn)
        rows = [row for cid, state in states
                if (row := engine.fit_row(pf.as_of_view(pf.from_json(str(cid), state), when, projector.zone)))
                and pf.day_start(row.first_day, projector.zone) <= when]
        population = await projector.refit_on(conn, rows, when)
    if population is None:
        raise Conflict("the population model needs at least "
                       f"{engine.MIN_FIT_CUSTOMERS} buying customers, {engine.MIN_FIT_REPEAT_BUYERS} of them repeat buyers",
                       title="Not enough data")
    return json_response(200, model_body(population))


@router.get("/model", response_model=out.PopulationModel, summary="The population model in force")
async def get_model(request: Request, _: Principal = require("insights:read")) -> Response:
    async with request.app.state.runtime.pool.acquire() as conn:
        population = await request.app.state.projector.population(conn)
    return json_response(200, model_body(population))


def model_body(population: domain.Population) -> dict[str, Any]:
    model, cuts = engine.population_to_json(population)
    return {"version": population.version,
            "as_of": pf.to_datetime(population.as_of).isoformat() if population.as_of is not None else None,
            "model": model, "rfm_cuts": cuts}


@router.post("/admin/replay", response_model=out.ReplayResult,
             summary="Rebuild every insights table from the services' outboxes and swap it in")
async def replay_insights(request: Request, refit: bool = False, _: Principal = require("admin")) -> Response:
    """With refit=true, every population model is fitted anew (after a change of the fitting code, or
    to check the stored fits) instead of taking a stored fit of the very same inputs."""
    projector = request.app.state.projector
    runtime = request.app.state.runtime
    async with runtime.long_connection() as conn, conn.transaction():
        result = await projector.replay(conn, request.headers.get("authorization", ""), refit=refit)
    rate = result.events / result.seconds["total"] if result.seconds.get("total") else 0.0
    return json_response(200, {
        "events": result.events, "customers": result.customers, "alerts": result.alerts, "refits": result.refits,
        "reused_fits": result.reused_fits, "fold_processes": result.processes,
        "skipped": result.skipped[:100], "seconds": {k: round(v, 3) for k, v in result.seconds.items()},
        "events_per_second": round(rate),
    })
