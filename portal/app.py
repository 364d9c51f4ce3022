"""The embedded portal's HTTP API: a stand-in for the CARM client portal (docs/portal-api.md).

It accepts a ``Declaration`` and answers a ``DeclarationOutcome``: 201 and status
40 with the assessment, or 422 and status 41 with every business error found.
Posts are idempotent per ``Idempotency-Key``.
"""

# No ``from __future__ import annotations``: FastAPI resolves the route signatures at
# runtime, and the dependencies are closures inside create_app.

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from domain.declaration import Declaration, DeclarationFunction
from domain.identifiers import is_program_account
from domain.outcome import DeclarationOutcome, OutcomeStatus, PortalError
from portal import codes
from portal.assessment import Assessment, assess
from portal.store import IdempotencyRecord, PortalStore, StoreConflict, StoredVersion
from portal.tariff import Tariff

DECLARATIONS_PATH = "/v1/declarations"
MAX_IDEMPOTENCY_KEY_LENGTH = 255
_MAX_DECISIONS = 3
"""A lost race means the winner is now stored; deciding again sees it, so a third
conflict in a row only happens under heavy contention and is answered with 503."""


class PortalHTTPError(Exception):
    """An answer other than an outcome: a status code and CARM-style errors."""

    def __init__(self, status_code: int, errors: list[PortalError]) -> None:
        super().__init__(status_code, errors)
        self.status_code = status_code
        self.errors = errors


class ErrorResponse(BaseModel):
    errors: list[PortalError]


class VersionSummary(BaseModel):
    version: int
    function: DeclarationFunction
    status: OutcomeStatus
    received_at: dt.datetime


class VersionRecord(VersionSummary):
    declaration: Declaration
    outcome: DeclarationOutcome


class DeclarationHistory(BaseModel):
    transaction_number: str
    cancelled: bool
    latest: VersionRecord
    versions: list[VersionSummary]


class Health(BaseModel):
    status: str
    tariff_version: str | None


def _documented(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"model": model, "description": description}


_AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _documented(ErrorResponse, "x-api-key missing or wrong (P004)."),
}
_POST_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: _documented(DeclarationOutcome, "Accepted (status 40) with the assessment."),
    422: _documented(DeclarationOutcome, "Rejected (status 41) or syntax error (status 400, code P001)."),
    400: _documented(ErrorResponse, "Idempotency-Key missing or longer than 255 characters (P002)."),
    409: _documented(ErrorResponse, "Idempotency-Key already used with another body (P003)."),
    503: _documented(ErrorResponse, "Repeatedly lost write races; retry with the same key (P005)."),
    **_AUTH_RESPONSES,
}
_GET_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: _documented(ErrorResponse, "Unknown transaction or version (077)."),
    **_AUTH_RESPONSES,
}


# --- business rules -------------------------------------------------------------------


def version_errors(declaration: Declaration, versions: Sequence[StoredVersion]) -> list[PortalError]:
    """Original, change and cancellation rules against the accepted versions so far."""
    number, version = declaration.transaction_number, declaration.version
    latest = versions[-1] if versions else None
    errors: list[PortalError] = []
    if declaration.function is DeclarationFunction.ORIGINAL:
        if version != 1:
            message = f"An original must be version 1, not {version}"
            errors.append(codes.ORIGINAL_NOT_VERSION_1.error("version", message))
        if latest is not None:
            message = f"Transaction {number} already exists (latest version {latest.version})"
            errors.append(codes.TRANSACTION_EXISTS.error("transaction_number", message))
        return errors
    if latest is None:
        message = f"Transaction {number} does not exist"
        errors.append(codes.TRANSACTION_UNKNOWN.error("transaction_number", message))
    else:
        if latest.function == DeclarationFunction.CANCELLATION:
            message = f"Transaction {number} was cancelled in version {latest.version}"
            errors.append(codes.TRANSACTION_CANCELLED.error("transaction_number", message))
        if version != latest.version + 1:
            message = f"Version {version} is not {latest.version + 1}, the next after version {latest.version}"
            errors.append(codes.VERSION_NOT_NEXT.error("version", message))
    if declaration.function is DeclarationFunction.CHANGE and declaration.amendment is None:
        errors.append(codes.AMENDMENT_MISSING.error("amendment"))
    return errors


def party_errors(declaration: Declaration) -> list[PortalError]:
    account = declaration.importer.account
    if is_program_account(account, "RM"):
        return []
    return [codes.IMPORTER_NOT_RM.error("importer.account", f"{account} is not an RM program account")]


def evaluate(
    declaration: Declaration, versions: Sequence[StoredVersion], tariff: Tariff, received_at: dt.datetime
) -> DeclarationOutcome:
    """Accept with the assessment, or reject with every error found.

    A cancellation withdraws the CAD: its lines are neither checked nor assessed
    and nothing is owed for it.
    """
    cancellation = declaration.function is DeclarationFunction.CANCELLATION
    assessment = Assessment() if cancellation else assess(declaration, tariff)
    errors = version_errors(declaration, versions) + party_errors(declaration) + assessment.errors
    identity = {
        "transaction_number": declaration.transaction_number,
        "version": declaration.version,
        "received_at": received_at,
    }
    if errors:
        return DeclarationOutcome(status=OutcomeStatus.REJECTED, errors=errors, **identity)
    return DeclarationOutcome(
        status=OutcomeStatus.ACCEPTED,
        lines=assessment.lines,
        total_duty=assessment.total_duty,
        total_excise=assessment.total_excise,
        total_gst=assessment.total_gst,
        **identity,
    )


# --- request handling -----------------------------------------------------------------


def request_digest(declaration: Declaration) -> str:
    """SHA-256 of the canonical JSON of the validated declaration: whitespace, key order
    and optional fields sent as null or left out do not make a different request."""
    canonical = json.dumps(declaration.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(record: IdempotencyRecord, digest: str) -> Response:
    if record.request_sha256 != digest:
        raise PortalHTTPError(409, [codes.IDEMPOTENCY_KEY_REUSED.error()])
    return Response(
        record.response_body,
        status_code=record.status_code,
        media_type="application/json",
        headers={"Idempotent-Replayed": "true"},
    )


def submit(store: PortalStore, tariff: Tariff, declaration: Declaration, key: str) -> Response:
    """Decide once per key: replay a stored answer, or decide and store it atomically."""
    digest = request_digest(declaration)
    for _ in range(_MAX_DECISIONS):
        record = store.idempotency_record(key)
        if record is not None:
            return _replay(record, digest)
        versions = store.versions(declaration.transaction_number)
        outcome = evaluate(declaration, versions, tariff, dt.datetime.now(dt.UTC))
        status_code = 201 if outcome.status.accepted else 422
        body = outcome.model_dump_json()
        try:
            store.record_submission(
                key=key,
                request_sha256=digest,
                status_code=status_code,
                response_body=body,
                declaration=declaration,
                outcome=outcome,
            )
        except StoreConflict:
            continue
        return Response(body, status_code=status_code, media_type="application/json")
    raise PortalHTTPError(503, [codes.TRY_AGAIN.error()])


def loc_pointer(loc: Sequence[str | int]) -> str | None:
    """``("lines", 1, "hs_code")`` → ``lines[1].hs_code``."""
    pointer = ""
    for part in loc:
        if isinstance(part, int):
            pointer += f"[{part}]"
        else:
            pointer += f".{part}" if pointer else part
    return pointer or None


def _validation_errors(exc: RequestValidationError) -> list[PortalError]:
    errors = []
    for error in exc.errors():
        loc = list(error.get("loc", ()))
        if loc and loc[0] in ("body", "path", "query", "header"):
            loc = loc[1:]
        if error.get("type") == "json_invalid":
            loc = []
        message = str(error.get("msg") or codes.SCHEMA_INVALID.title)
        errors.append(codes.SCHEMA_INVALID.error(loc_pointer(loc), message))
    return errors


def _syntax_outcome(body: Any, errors: list[PortalError]) -> DeclarationOutcome:
    """Status 400 (CARM's syntax error) in the outcome shape, identified as far as the body allows."""
    fields = body if isinstance(body, dict) else {}
    number = fields.get("transaction_number")
    version = fields.get("version")
    return DeclarationOutcome(
        transaction_number=number if isinstance(number, str) else "",
        version=version if isinstance(version, int) and not isinstance(version, bool) else 0,
        status=OutcomeStatus.SYNTAX_ERROR,
        received_at=dt.datetime.now(dt.UTC),
        errors=errors,
    )


def _error_response(status_code: int, errors: list[PortalError]) -> JSONResponse:
    return JSONResponse(ErrorResponse(errors=errors).model_dump(mode="json"), status_code=status_code)


# --- the app --------------------------------------------------------------------------


def create_app(database_url: str, tariff_path: Path | str, *, api_key: str | None = None) -> FastAPI:
    """The portal app over the database and tariff table; with ``api_key`` every
    ``/v1`` request must send it as ``x-api-key``."""
    store = PortalStore.from_url(database_url)
    tariff = Tariff.load(Path(tariff_path))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        store.dispose()

    app = FastAPI(
        title="CARM embedded portal",
        version="1",
        summary="Stand-in for the CARM client portal API: declarations in, assessed outcomes out.",
        lifespan=lifespan,
    )

    def check_api_key(x_api_key: Annotated[str | None, Header()] = None) -> None:
        sent = (x_api_key or "").encode()
        if api_key is not None and not secrets.compare_digest(sent, api_key.encode()):
            raise PortalHTTPError(401, [codes.API_KEY_INVALID.error()])

    def idempotency_key(
        key: Annotated[
            str | None, Header(alias="Idempotency-Key", description="Required; the same key for every retry.")
        ] = None,
    ) -> str:
        if not key or not key.strip():
            raise PortalHTTPError(400, [codes.IDEMPOTENCY_KEY_MISSING.error()])
        if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
            message = f"The Idempotency-Key must be at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters"
            raise PortalHTTPError(400, [codes.IDEMPOTENCY_KEY_MISSING.error(message=message)])
        return key

    router = APIRouter(prefix="/v1", dependencies=[Depends(check_api_key)] if api_key is not None else [])

    @router.post("/declarations", status_code=201, responses=_POST_RESPONSES)
    def post_declaration(declaration: Declaration, key: Annotated[str, Depends(idempotency_key)]) -> Response:
        """Submit one declaration version. A repeat with the same Idempotency-Key and body is
        answered with the first status and body, unchanged (header ``Idempotent-Replayed``)."""
        return submit(store, tariff, declaration, key)

    @router.get(
        "/declarations/{transaction_number}", response_model=DeclarationHistory, responses=_GET_RESPONSES
    )
    def get_declaration(transaction_number: str) -> DeclarationHistory:
        """The latest accepted version with its outcome, and a summary of every version."""
        versions = store.versions(transaction_number)
        if not versions:
            raise PortalHTTPError(404, [codes.NOT_FOUND.error("transaction_number")])
        latest = versions[-1]
        return DeclarationHistory(
            transaction_number=transaction_number,
            cancelled=latest.function == DeclarationFunction.CANCELLATION,
            latest=_version_record(latest),
            versions=[_version_summary(stored) for stored in versions],
        )

    @router.get(
        "/declarations/{transaction_number}/versions/{version}",
        response_model=VersionRecord,
        responses=_GET_RESPONSES,
    )
    def get_version(transaction_number: str, version: int) -> VersionRecord:
        stored = store.version(transaction_number, version)
        if stored is None:
            raise PortalHTTPError(404, [codes.NOT_FOUND.error("version")])
        return _version_record(stored)

    @app.get("/health", response_model=Health)
    def health() -> Health:
        store.ping()
        return Health(status="ok", tariff_version=tariff.version)

    @app.exception_handler(PortalHTTPError)
    async def portal_error(_: Request, exc: PortalHTTPError) -> JSONResponse:
        return _error_response(exc.status_code, exc.errors)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        if request.method == "POST" and request.url.path == DECLARATIONS_PATH:
            return JSONResponse(_syntax_outcome(exc.body, errors).model_dump(mode="json"), status_code=422)
        return _error_response(422, errors)

    app.include_router(router)
    return app


def _version_summary(stored: StoredVersion) -> VersionSummary:
    return VersionSummary(
        version=stored.version,
        function=DeclarationFunction(stored.function),
        status=OutcomeStatus(stored.status),
        received_at=stored.received_at,
    )


def _version_record(stored: StoredVersion) -> VersionRecord:
    return VersionRecord(
        **_version_summary(stored).model_dump(),
        declaration=Declaration.model_validate(stored.body),
        outcome=DeclarationOutcome.model_validate(stored.outcome),
    )
