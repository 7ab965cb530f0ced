"""Signing in and out, and the language switch."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from console import accounts, store
from console.accounts import LockOut
from console.i18n import LOCALES
from console.web import (
    LANGUAGE_COOKIE,
    SESSION_COOKIE,
    CsrfRefused,
    SignInRequired,
    Viewer,
    check_csrf,
    render,
    session_rule,
    texts_for,
    viewer,
)

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "kehu_login_csrf"


def _lockout(request: Request) -> LockOut:
    settings = request.app.state.settings
    return LockOut(settings.console_sign_in_attempts, settings.console_lockout_minutes)


def _sign_in_page(request: Request, *, status: int = 200, error: str | None = None, name: str = "",
                  next_path: str = "/") -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    request.state.login_csrf = token
    response = render(request, "sign_in.html", None, status=status, error=error, name=name, next_path=next_path)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/sign-in",
                        secure=request.app.state.settings.console_secure_cookies)
    return response


@router.get("/sign-in")
async def sign_in_form(request: Request, next: str = "/") -> Response:
    try:
        await viewer(request)
        return RedirectResponse(accounts.safe_next(next), status_code=303)
    except SignInRequired:
        return _sign_in_page(request, next_path=accounts.safe_next(next))


@router.post("/sign-in")
async def sign_in(
    request: Request,
    name: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=accounts.PASSWORD_MAX)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    texts = texts_for(request)  # no person yet: the cookie or the browser's language
    next_path = accounts.safe_next(next)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not expected or not accounts.csrf_matches(expected, csrf):
        return _sign_in_page(request, status=403, name=name, next_path=next_path,
                             error=texts.gettext("The sign-in form had expired. Please sign in again."))
    name = name.strip().lower()
    now = datetime.now(UTC)
    rule = _lockout(request)
    async with request.app.state.pool.acquire() as conn:
        failures = await store.recent_failures(conn, name, now - timedelta(minutes=rule.minutes))
        until = accounts.locked_until(failures, rule, now)
        if until is not None:
            minutes = max(1, int((until - now).total_seconds() // 60) + 1)
            return _sign_in_page(request, status=429, name=name, next_path=next_path, error=texts.ngettext(
                "Too many wrong passwords: this account is locked for %(num)d more minute.",
                "Too many wrong passwords: this account is locked for %(num)d more minutes.", minutes))
        found = await store.person_by_name(conn, name)
        person, password_hash = found if found else (None, None)
        if person is None or person.disabled or not accounts.password_matches(password_hash, password):
            await store.record_failure(conn, name, now)
            return _sign_in_page(request, status=401, name=name, next_path=next_path,
                                 error=texts.gettext("Wrong name or password."))
        await store.clear_failures(conn, name, now)
        session = accounts.open_session(session_rule(request), now)
        await store.insert_session(conn, session, person.id, now)
        await store.delete_expired_sessions(conn, now, session_rule(request).idle)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(SESSION_COOKIE, session.token, httponly=True, samesite="lax", path="/",
                        max_age=request.app.state.settings.console_session_max_days * 86400,
                        secure=request.app.state.settings.console_secure_cookies)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/sign-in")
    return response


@router.post("/sign-out")
async def sign_out(request: Request, who: Viewer = Depends(viewer)) -> Response:
    await check_csrf(request, who)
    async with request.app.state.pool.acquire() as conn:
        await store.delete_session(conn, accounts.session_digest(request.cookies[SESSION_COOKIE]))
    request.app.state.services.tokens.forget(who.person)
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/language")
async def choose_language(request: Request, locale: Annotated[str, Form()] = "zh-CN",
                          back: Annotated[str, Form(max_length=2000)] = "/") -> Response:
    """Signed in: the person's own setting (on every device); before sign-in: a cookie."""
    if locale not in LOCALES:
        locale = "zh-CN"
    try:
        who = await viewer(request)
    except SignInRequired:
        who = None
    if who is not None:
        try:
            await check_csrf(request, who)
        except CsrfRefused:
            return RedirectResponse(accounts.safe_next(back), status_code=303)
        async with request.app.state.pool.acquire() as conn:
            await store.set_locale(conn, who.person.id, locale)
    response = RedirectResponse(accounts.safe_next(back), status_code=303)
    response.set_cookie(LANGUAGE_COOKIE, locale, samesite="lax", path="/", max_age=365 * 86400)
    return response
