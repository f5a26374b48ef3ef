"""The console's pages: log in, the overview, search, one complaint, the queues, and the
operator's actions.

Every page but `/login` needs a logged-in operator (an anonymous request is sent to the
login, and learns nothing else); every form carries the session's CSRF token; every value is
escaped by the templates (Jinja2 with autoescape). An action is taken through `handling`
as the operator, so it is an event with their name, and its mail goes through the store.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import jinja2
from sqlalchemy import select, update
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from console import auth, labels, views
from handling import actions, inbound
from handling.actions import Act, Refused
from ingest import pipeline
from ingest.reconciler import reconcile
from intake import clock
from intake.lifecycle import Actor
from intake.runtime import Runtime
from intake.schema import CHANNELS, PRODUCT_NAMES, PRODUCTS
from intake.states import JobState
from outbound import jobs
from outbound.jobs import Job
from store import repo
from store.models import AttachmentRow, ComplaintRow, DeadLetterRow, NoticeRow, RawMessageRow

TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
TEMPLATES.filters["tz"] = ZoneInfo


def _query(filters: views.Filters, page: int) -> str:
    """The search's query string for another page."""
    values = {k: v for k, v in vars(filters).items() if k not in ("page", "errors") and v}
    return urlencode({**values, "page": page})


TEMPLATES.globals["query"] = _query

Page = Callable[[Request], Awaitable[Response]]


def middleware(runtime: Runtime) -> list[Middleware]:
    """Signed session cookies: HttpOnly, SameSite=Lax, and Secure over TLS (the outer
    middleware marks them, seeing the cookie the session middleware sets)."""
    return [
        Middleware(SecureCookies),
        Middleware(
            SessionMiddleware,
            secret_key=auth.session_key(runtime.settings),
            session_cookie=COOKIE,
            max_age=runtime.settings.console.session_hours * 3600,
            same_site="lax",
            https_only=False,  # marked Secure per request, by SecureCookies
        ),
    ]


COOKIE = "intake_session"


class SecureCookies:
    """Marks the session cookie Secure when the request came over TLS: directly, or as a
    proxy of `[http] trusted_proxies` says with X-Forwarded-Proto (`ingest.webhooks.Proxied`
    has set the scheme from it by now)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secure = scope.get("scheme") == "https"

        async def sending(message: Any) -> None:
            if secure and message["type"] == "http.response.start":
                message["headers"] = [
                    (
                        k,
                        v + b"; secure"
                        if k == b"set-cookie" and v.startswith(COOKIE.encode())
                        else v,
                    )
                    for k, v in message.get("headers", [])
                ]
            await send(message)

        await self.app(scope, receive, sending)


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    lang = labels.language(request)
    page = TEMPLATES.get_template(template).render(
        t=labels.translator(lang),
        lang=lang,
        user=auth.current_user(request),
        csrf=auth.csrf_token(request),
        products=PRODUCTS,
        product_names=PRODUCT_NAMES,
        settings=request.app.state.runtime.settings,
        request=request,
        **context,
    )
    return HTMLResponse(page, status_code=status, headers=SAFE_HEADERS)


SAFE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def login_required(page: Page) -> Page:
    async def guarded(request: Request) -> Response:
        if auth.current_user(request) is None:
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        if request.method == "POST":
            form = await request.form()
            if not auth.csrf_ok(request, form.get("csrf")):
                return Response("CSRF token missing or wrong", status_code=403)
        return await page(request)

    return guarded


# --- log in and out -------------------------------------------------------------------------


async def login(request: Request, throttle: auth.Throttle) -> Response:
    runtime: Runtime = request.app.state.runtime
    next_path = request.query_params.get("next", "/")
    if not next_path.startswith("/") or next_path.startswith("//"):
        next_path = "/"
    if request.method == "GET":
        return render(request, "login.html", next=next_path, problem=None)
    form = await request.form()
    if not auth.csrf_ok(request, form.get("csrf")):
        return render(request, "login.html", 403, next=next_path, problem="bad_login")
    name = str(form.get("username", "")).strip().lower()[:64]
    address = request.client.host if request.client else "?"
    keys = (f"ip:{address}", f"user:{name}")
    if throttle.blocked(*keys):
        return render(request, "login.html", 429, next=next_path, problem="throttled")
    with runtime.sessions.begin() as session:
        user = auth.verify(session, name, str(form.get("password", "")))
        known = user.username if user else None
    if known is None:
        throttle.failed(*keys)
        return render(request, "login.html", 401, next=next_path, problem="bad_login")
    auth.log_in(request, known)
    return RedirectResponse(next_path, status_code=303)


async def logout(request: Request) -> Response:
    form = await request.form()
    if auth.csrf_ok(request, form.get("csrf")):
        request.session.clear()
    return RedirectResponse("/login", status_code=303)


# --- pages ---------------------------------------------------------------------------------


@login_required
async def overview(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    with runtime.sessions() as session:
        data = views.overview(session, runtime, clock.now())
    return render(request, "overview.html", data=data)


@login_required
async def complaints(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    filters = views.Filters.of(request.query_params)
    with runtime.sessions() as session:
        rows, total = views.search(session, runtime, filters)
    return render(
        request,
        "complaints.html",
        rows=rows,
        total=total,
        filters=filters,
        pages=(total + views.PAGE - 1) // views.PAGE,
        channels=CHANNELS,
    )


@login_required
async def complaint(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    reference = request.path_params["reference"]
    with runtime.sessions() as session:
        data = views.complaint_page(session, runtime, reference, clock.now())
        if data is None:
            return render(request, "missing.html", 404)
        return render(
            request,
            "complaint.html",
            data=data,
            done=request.query_params.get("done"),
            refused=request.query_params.get("refused"),
        )


@login_required
async def attachment(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    with runtime.sessions() as session:
        row = session.get(AttachmentRow, int(request.path_params["attachment"]))
        owner = session.get(ComplaintRow, row.complaint_id) if row else None
        if row is None or owner is None or owner.reference != request.path_params["reference"]:
            return Response("not found", status_code=404)
        data = repo.get_blob(session, row.sha256) or b""
        name = (row.filename or "ek").replace('"', "")
    return Response(
        data,
        media_type="application/octet-stream",  # never rendered by the browser
        headers={"Content-Disposition": f'attachment; filename="{name}"', **SAFE_HEADERS},
    )


@login_required
async def queues(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    depths = views.queue_depths(runtime)
    with runtime.sessions() as session:
        failed = views.failed_raws(session)
        letters = views.dead_letters(session)
    return render(request, "queues.html", depths=depths, failed=failed, letters=letters)


# --- actions -------------------------------------------------------------------------------


@login_required
async def act(request: Request) -> Response:
    """One operator action on a complaint, by the form's `action`."""
    runtime: Runtime = request.app.state.runtime
    reference = request.path_params["reference"]
    form = await request.form()
    action = str(form.get("action", ""))
    user = auth.current_user(request) or "?"
    try:
        with runtime.sessions.begin() as session:
            row = session.scalars(
                select(ComplaintRow).where(ComplaintRow.reference == reference)
            ).one_or_none()
            if row is None:
                return Response("not found", status_code=404)
            operator = Act(
                session,
                runtime.settings,
                row,
                Actor.OPERATOR,
                f"operator:{user}",
                source=f"console:{uuid.uuid4().hex}",
            )
            _take(operator, action, form)
            work = list(operator.work)
    except Refused as exc:
        return RedirectResponse(
            f"/complaints/{reference}?refused={str(exc)[:200]}", status_code=303
        )
    jobs.dispatch(runtime, work)
    return RedirectResponse(f"/complaints/{reference}?done={action}", status_code=303)


def _take(operator: Act, action: str, form: Any) -> None:
    if action == "correct":
        actions.correct(operator, str(form.get("product", "")), str(form.get("unit", "")))
    elif action in ("merge", "eta", "reply", "resolve", "note"):
        inbound.apply_typed(operator, action, str(form.get("text", "")).strip())
    else:
        raise Refused(f"unknown action {action!r}")


@login_required
async def retry_raw(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    raw_id = int(request.path_params["raw"])
    pipeline.process(runtime, [raw_id])
    with runtime.sessions.begin() as session:
        repo.add_event(
            session,
            "retried",
            raw_message_id=raw_id,
            actor=f"operator:{auth.current_user(request)}",
        )
    return RedirectResponse("/queues", status_code=303)


@login_required
async def retry_dead_letter(request: Request) -> Response:
    """Send a dead letter's job again (once its cause is fixed): its complaint's parked jobs
    are owed again, and the reconciler enqueues them."""
    runtime: Runtime = request.app.state.runtime
    with runtime.sessions.begin() as session:
        letter = session.get(DeadLetterRow, int(request.path_params["letter"]))
        if letter is None or letter.requeued_at is not None:
            return RedirectResponse("/queues", status_code=303)
        letter.requeued_at = clock.now()
        if letter.complaint_id is not None:
            _unpark(session, letter.complaint_id)
            repo.add_event(
                session,
                "dead_letter_requeued",
                complaint_id=letter.complaint_id,
                actor=f"operator:{auth.current_user(request)}",
                job=letter.actor,
            )
    reconcile(runtime, everything=True)
    return RedirectResponse("/queues", status_code=303)


def _unpark(session: Any, complaint_id: int) -> None:
    for job in (Job.TICKET, Job.ACK):
        state = job.columns.state
        session.execute(
            update(ComplaintRow)
            .where(ComplaintRow.id == complaint_id, state == JobState.DEAD)
            .values({state: JobState.PENDING})
        )
    session.execute(
        update(RawMessageRow)
        .where(
            RawMessageRow.complaint_id == complaint_id, RawMessageRow.forward_state == JobState.DEAD
        )
        .values(forward_state=JobState.PENDING)
    )
    session.execute(
        update(NoticeRow)
        .where(NoticeRow.complaint_id == complaint_id, NoticeRow.state == JobState.DEAD)
        .values(state=JobState.PENDING)
    )


def routes(runtime: Runtime) -> list[BaseRoute]:
    """The console's pages (with `middleware(runtime)` on the app)."""
    throttle = auth.Throttle(runtime)

    async def login_page(request: Request) -> Response:
        return await login(request, throttle)

    return [
        Route("/login", login_page, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", overview, methods=["GET"]),
        Route("/complaints", complaints, methods=["GET"]),
        Route("/complaints/{reference}", complaint, methods=["GET"]),
        Route("/complaints/{reference}/act", act, methods=["POST"]),
        Route("/complaints/{reference}/attachments/{attachment:int}", attachment, methods=["GET"]),
        Route("/queues", queues, methods=["GET"]),
        Route("/raw/{raw:int}/retry", retry_raw, methods=["POST"]),
        Route("/dead-letters/{letter:int}/retry", retry_dead_letter, methods=["POST"]),
    ]
