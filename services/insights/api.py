"""HTTP routes of insights: read the unified customer view."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from services.insights import domain, store
from shared.auth import Principal
from shared.http import ProblemError, json_response, require

router = APIRouter(tags=["insights"])


class TimelinePage(BaseModel):
    items: list[domain.TimelineItem]
    next_cursor: str | None


@router.get(
    "/customers/{customer_id}/timeline",
    response_model=TimelinePage,
    summary="Everything that happened with a customer, in business-time order",
)
async def customer_timeline(
    customer_id: uuid.UUID,
    request: Request,
    type: Annotated[str | None, Query(description="Only this event type, e.g. OrderPlaced.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
    accept_language: Annotated[str | None, Header()] = None,
    _: Principal = require("insights:read"),
) -> Response:
    lang = domain.preferred_language(accept_language)
    async with request.app.state.runtime.pool.acquire() as conn:
        rows = await store.timeline_page(
            conn, customer_id, after=_decode_cursor(cursor), event_type=type, limit=limit
        )
    items = [
        {
            "event_id": str(r["event_id"]),
            "type": r["event_type"],
            "source": r["source"],
            "occurred_at": r["occurred_at"].isoformat(),
            "recorded_at": r["recorded_at"].isoformat(),
            "summary": domain.summarize(r["event_type"], r["data"], lang),
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
        raise ProblemError(422, "Invalid request", "cursor is not one this API gave out",
                           errors=[{"field": "query.cursor", "message": "invalid cursor"}]) from exc
