"""The operations page over the ledger: a FastAPI app rendering server-side HTML (and
the same data as JSON under ``/api``), with two actions: reprocess a file, resend its
acknowledgements. Airflow mounts it through the plugin in ``plugins/carm_operations.py``;
who may do what is the ``Authorize`` callable's to decide (the plugin asks Airflow's
auth manager), so the app itself knows nothing of Airflow.

Every request is authorized: reading needs ``act=False``, an action ``act=True``; an
action is written to the audit trail with the name ``Authorize`` returns. Reprocessing
runs the file now, in this process, as ``carm-edi reprocess --file`` does."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from gateway import operations_html as html
from gateway.ledger_views import FILTERS, file_detail, list_files, partner_status, query_from, read_acknowledgement
from gateway.operator import OperatorError, Requester, resend_acknowledgements
from gateway.retention import cutoffs, due_by_partner
from gateway.service import load_partners, open_transport, reprocess
from gateway.settings import Settings
from gateway.waiting import waiting_report
from ledger import Ledger
from ledger.search import QueryError
from ledger.store import as_utc

Authorize = Callable[[Request, bool], Awaitable[str]]
"""``(request, act)`` → the user's name; raises ``HTTPException`` 401 (no login) or 403
(not allowed: reading needs the DAG's read permission, ``act`` its run permission)."""


async def _reader(request: Request) -> str:
    authorize: Authorize = request.app.state.authorize
    return await authorize(request, False)


async def _actor(request: Request) -> str:
    authorize: Authorize = request.app.state.authorize
    return await authorize(request, True)


Reader = Annotated[str, Depends(_reader)]
"""The signed-in user, allowed to read."""
Actor = Annotated[str, Depends(_actor)]
"""The signed-in user, allowed to act."""


def create_app(
    authorize: Authorize,
    settings: Callable[[], Settings] = Settings,
    login_url: Callable[[str], str] | None = None,
) -> FastAPI:
    """The page's app; ``settings`` is read per request (the API server's ``CARM_*`` environment);
    ``login_url(next)`` is where a 401 page sends the user to sign in."""
    app = FastAPI(title="CARM operations", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.authorize = authorize

    @contextmanager
    def ledger() -> Iterator[Ledger]:
        opened = Ledger(settings().ledger_database_url())
        try:
            yield opened
        finally:
            opened.dispose()

    def base(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    def page(request: Request, title: str, body: str, user: str) -> HTMLResponse:
        return HTMLResponse(html.layout(base(request), title, body, user))

    @app.exception_handler(HTTPException)
    async def problem(request: Request, error: HTTPException) -> Response:
        path = request.url.path
        if path.removeprefix(base(request)).startswith("/api/"):
            return JSONResponse({"detail": error.detail}, status_code=error.status_code)
        login = login_url(str(request.url)) if login_url and error.status_code == 401 else None
        body = html.problem_page(base(request), error.status_code, str(error.detail), login)
        return HTMLResponse(body, status_code=error.status_code)

    def files_data(request: Request) -> dict[str, Any]:
        params = dict(request.query_params)
        try:
            due = None
            if params.get("due"):  # the cutoffs need the registry: read only when asked
                current = settings()
                due = cutoffs(current, load_partners(current), dt.datetime.now(dt.UTC))
            query = query_from(params, due)
        except QueryError as error:
            raise HTTPException(400, str(error)) from None
        with ledger() as opened:
            return list_files(opened, query)

    def detail_data(file_id: int) -> dict[str, Any]:
        with ledger() as opened:
            try:
                return file_detail(opened, file_id)
            except OperatorError as error:
                raise HTTPException(404, str(error)) from None

    def partners_data() -> list[dict[str, Any]]:
        current = settings()
        registry = load_partners(current)
        with ledger() as opened, open_transport(current, registry) as transport:
            rows = partner_status(opened, transport, registry)
            due = due_by_partner(opened, current, registry, dt.datetime.now(dt.UTC))
        for row in rows:
            row["due_for_purge"] = due.get(row["partner"], 0)
        return rows

    def waiting_data() -> list[dict[str, Any]]:
        with ledger() as opened:
            return waiting_report(opened, dt.datetime.now(dt.UTC))

    def audit_data(limit: int = 200) -> list[dict[str, Any]]:
        with ledger() as opened:
            return [
                {"at": as_utc(a.at).isoformat(timespec="seconds"), "who": a.who, "action": a.action,
                 "target": a.target, "source": a.source, "detail": a.detail}
                for a in opened.actions(limit=limit)
            ]  # fmt: skip

    @app.get("/", include_in_schema=False)
    def home(request: Request, _user: Reader) -> RedirectResponse:
        return RedirectResponse(f"{base(request)}/files", status_code=303)

    @app.get("/files", response_class=HTMLResponse)
    def files(request: Request, user: Reader) -> HTMLResponse:
        listing = files_data(request)
        partners = partners_data()
        filters = {k: request.query_params.get(k, "") for k in FILTERS}
        body = (
            html.partners_table(base(request), partners)
            + html.waiting_table(waiting_data())
            + html.filters_form(base(request), filters, [p["partner"] for p in partners])
            + html.files_table(base(request), listing, filters)
        )
        return page(request, "CARM files", body, user)

    @app.get("/files/{file_id}", response_class=HTMLResponse)
    def file(request: Request, file_id: int, user: Reader, notice: str | None = None) -> HTMLResponse:
        view = detail_data(file_id)
        return page(request, f"File {file_id}: {view['name']}", html.file_page(base(request), view, notice), user)

    @app.get("/acknowledgements/{acknowledgement_id}", response_class=HTMLResponse)
    def acknowledgement(request: Request, acknowledgement_id: int, user: Reader) -> HTMLResponse:
        current = settings()
        with ledger() as opened, open_transport(current) as transport:
            try:
                name, content, truncated = read_acknowledgement(opened, transport, acknowledgement_id)
            except LookupError as error:
                raise HTTPException(404, str(error)) from None
        return page(request, f"Acknowledgement {name}", html.acknowledgement_page(name, content, truncated), user)

    @app.get("/audit", response_class=HTMLResponse)
    def audit(request: Request, user: Reader) -> HTMLResponse:
        return page(request, "Audit trail", html.actions_table(audit_data()), user)

    @app.post("/files/{file_id}/reprocess")
    def reprocess_file(request: Request, file_id: int, user: Actor) -> RedirectResponse:
        detail_data(file_id)  # 404 before anything is done
        result = reprocess(settings(), Requester(user, "page"), file_ids=[file_id], run_id=f"page:{user}")
        states = ", ".join(f"{f['name']}: {f['state']}" for f in result["files"])
        notice = "; ".join(result["notes"]) + (f" — now {states}" if states else "")
        return RedirectResponse(f"{base(request)}/files/{file_id}?notice={quote(notice)}", status_code=303)

    @app.post("/files/{file_id}/resend")
    def resend(request: Request, file_id: int, user: Actor) -> RedirectResponse:
        current = settings()
        with ledger() as opened, open_transport(current) as transport:
            try:
                notes = resend_acknowledgements(opened, transport, file_id, Requester(user, "page"))
            except OperatorError as error:
                raise HTTPException(404 if "no file" in str(error) else 409, str(error)) from None
        return RedirectResponse(f"{base(request)}/files/{file_id}?notice={quote('; '.join(notes))}", status_code=303)

    @app.get("/api/files")
    def api_files(request: Request, _user: Reader) -> dict[str, Any]:
        return files_data(request)

    @app.get("/api/files/{file_id}")
    def api_file(request: Request, file_id: int, _user: Reader) -> dict[str, Any]:
        return detail_data(file_id)

    @app.get("/api/partners")
    def api_partners(request: Request, _user: Reader) -> list[dict[str, Any]]:
        return partners_data()

    @app.get("/api/waiting")
    def api_waiting(request: Request, _user: Reader) -> list[dict[str, Any]]:
        return waiting_data()

    @app.get("/api/audit")
    def api_audit(request: Request, _user: Reader) -> list[dict[str, Any]]:
        return audit_data()

    return app
