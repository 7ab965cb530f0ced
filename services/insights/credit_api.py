"""HTTP routes of credit standing: a customer's tier, the customers of a tier, the sweep on demand."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.insights import credit, credit_handlers, credit_store, wording
from services.insights import profile as pf
from services.insights.api import UNKNOWN_CUSTOMER, AsOfText, _as_of, _known, _parse_as_of, _unknown, ensure_sees
from services.insights.credit_wording import explain_credit
from shared.auth import Principal
from shared.events import CreditEvidence, CreditTier
from shared.http import json_response, require
from shared.scopes import scope_of

router = APIRouter(tags=["credit"])

_REASONS = ("long_overdue (D: unpaid more than 60 days), large_overdue (D: unpaid more than 30 days and half of "
            "all that fell due), overdue (C: unpaid more than 30 days), often_late (C: under 70% on time), pays_late "
            "(C: late by more than 15 days on average), on_time (A), no_history, little_history, normal (B); "
            "see docs/credit.md")


class CreditStanding(BaseModel):
    customer_id: uuid.UUID
    tier: CreditTier = Field(description="A good payer, B normal, C watch, D hold.")
    reason: str = Field(description=_REASONS)
    evidence: CreditEvidence
    explanation: str = Field(description="The reason and its evidence in one line, in the language asked for "
                                         "(Accept-Language: Chinese or English).")
    rule_version: str
    as_of: datetime = Field(description="When the rule judged it.")
    since: datetime | None = Field(description="Since when this tier is recorded (null: the sweep has not "
                                               "recorded it yet, or the customer owes nothing and never did).")
    recorded_tier: CreditTier | None = Field(description="The tier recorded and published (what orders holds); "
                                                         "null: none recorded, which orders reads as B.")


class CreditStandingItem(BaseModel):
    customer_id: uuid.UUID
    owner: str | None
    tier: CreditTier
    reason: str
    evidence: CreditEvidence
    explanation: str = Field(description="The reason and its evidence in one line, in the language asked for "
                                         "(Accept-Language: Chinese or English).")
    rule_version: str
    since: datetime
    as_of: datetime


class CreditStandingPage(BaseModel):
    items: list[CreditStandingItem]
    next_cursor: str | None


class CreditStandingCounts(BaseModel):
    counts: dict[CreditTier, int] = Field(description="Customers with a recorded standing per tier (every tier "
                                                      "named, 0 when none); customers without one are B.")


class CreditSweep(BaseModel):
    as_of: datetime
    judged: int = Field(description="Customers judged again (those whose review time had come).")
    published: int = Field(description="CreditStandingChanged events published.")


@router.get("/customers/{customer_id:uuid}/credit-standing", response_model=CreditStanding,
            summary="A customer's credit tier, why, and the evidence", responses=UNKNOWN_CUSTOMER,
            description="Judged by the credit rule (docs/credit.md) as of `as_of` from what kehu.orders said of "
            "the customer's instalments and payments; `recorded_tier` is what was last published. A customer "
            "insights knows with no instalment is B (`no_history`).")
async def customer_credit_standing(
    customer_id: uuid.UUID,
    request: Request,
    as_of: Annotated[AsOfText | None, _as_of("Judge as of this time (default: now, or the last judgement's "
                                             "time if later).")] = None,
    accept_language: Annotated[str | None, Header()] = None,
    principal: Principal = require("insights:read"),
) -> Response:
    lang = wording.preferred_language(accept_language)
    when = _parse_as_of(as_of, request)
    async with request.app.state.runtime.pool.acquire() as conn:
        await ensure_sees(conn, principal, customer_id)
        row = (await credit_store.standings(conn, [customer_id])).get(customer_id)
        history = (await credit_store.histories(conn, [customer_id]))[customer_id]
        if row is None and not history.schedules and not history.payments and not await _known(conn, customer_id):
            raise _unknown(customer_id)
    recorded = credit_store.standing_of(row)
    if when is None:
        at = datetime.now(UTC) if recorded is None else max(datetime.now(UTC), recorded.as_of)
    else:
        at = pf.to_datetime(when)
    judged = credit.judge(history, at)
    same = recorded is not None and recorded.tier == judged.tier
    evidence = credit_store.evidence_json(judged.evidence)
    return json_response(200, {
        "customer_id": str(customer_id), "tier": judged.tier, "reason": judged.reason, "evidence": evidence,
        "explanation": explain_credit(judged.reason, evidence, lang), "rule_version": credit.RULE_VERSION,
        "as_of": at.isoformat(), "since": recorded.since.isoformat() if same and recorded else None,
        "recorded_tier": recorded.tier if recorded else None,
    })


@router.get("/credit-standings", response_model=CreditStandingPage,
            summary="Recorded credit standings, of one tier or all, in customer id order",
            description="What insights recorded (and published) per customer; customers without a record are B. "
            "A salesperson sees their own customers and the pool's.")
async def list_credit_standings(
    request: Request,
    tier: CreditTier | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[uuid.UUID | None, Query(description="The last customer_id of the page before.")] = None,
    accept_language: Annotated[str | None, Header()] = None,
    principal: Principal = require("insights:read"),
) -> Response:
    lang = wording.preferred_language(accept_language)
    async with request.app.state.runtime.pool.acquire() as conn:
        rows = await credit_store.standing_page(conn, tier=tier, after=cursor, limit=limit,
                                                owner_filter=scope_of(principal).owner_filter)
    items: list[dict[str, Any]] = [
        {"customer_id": str(r["customer_id"]), "owner": r["owner"], "tier": r["tier"], "reason": r["reason"],
         "evidence": r["evidence"], "explanation": explain_credit(r["reason"], r["evidence"], lang),
         "rule_version": r["rule_version"], "since": r["since"].isoformat(),
         "as_of": r["as_of"].isoformat()}
        for r in rows
    ]
    next_cursor = str(rows[-1]["customer_id"]) if len(rows) == limit else None
    return json_response(200, {"items": items, "next_cursor": next_cursor})


@router.get("/credit-standings/counts", response_model=CreditStandingCounts,
            summary="How many customers are in each credit tier",
            description="Of the recorded standings, as `GET /credit-standings` lists them (a salesperson: their "
            "own customers and the pool's): the console's count of customers on hold (D).")
async def count_credit_standings(request: Request, principal: Principal = require("insights:read")) -> Response:
    async with request.app.state.runtime.pool.acquire() as conn:
        counts = await credit_store.standing_counts(conn, owner_filter=scope_of(principal).owner_filter)
    return json_response(200, {"counts": {tier: counts.get(tier, 0) for tier in ("A", "B", "C", "D")}})


@router.post("/admin/credit/sweep", response_model=CreditSweep,
             summary="Judge again now (or as of a time) every customer whose credit may have changed with time",
             description="What the sweep does on its own every `KEHU_INSIGHTS_SWEEP_S` on the wall clock. Safe "
             "to repeat: a customer is never judged as of a time before their last judgement, and a tier that "
             "did not change publishes nothing.")
async def sweep_credit(
    request: Request,
    as_of: Annotated[AsOfText | None, _as_of("Judge as of this time (default: now).")] = None,
    _: Principal = require("admin"),
) -> Response:
    when = _parse_as_of(as_of, request)
    at = pf.to_datetime(when) if when is not None else datetime.now(UTC)
    judged, published = await credit_handlers.sweep_all(request.app, at)
    return json_response(200, {"as_of": at.isoformat(), "judged": judged, "published": published})
