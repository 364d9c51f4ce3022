"""The embedded portal's HTTP API: a stand-in for the CARM client portal (docs/portal-api.md).

It accepts a ``Declaration`` and answers a ``DeclarationOutcome``: 201 and status
40 with the assessment, or 422 and status 41 with every business error found;
412 (validation code 69) when the declarant holds no active delegation from the
importer, 415 (code 90) when the declarant is not registered; 202 and status 42
for an adjustment (a change or cancellation received after the correction deadline),
pending an operator's decision (portal/adjustments.py). Posts are
idempotent per ``Idempotency-Key``. Parties and delegations are kept by the
portal (``/v1/parties``, ``/v1/delegations``), seeded from a CSV.
"""

# No ``from __future__ import annotations``: FastAPI resolves the route signatures at
# runtime, and the dependencies are closures inside create_app.

import asyncio
import datetime as dt
import hashlib
import json
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from diagnostics.field_paths import flat_line_path, line_starts
from domain.declaration import Declaration, DeclarationFunction, first_shape
from domain.identifiers import ProgramAccount, bn9_of, is_program_account
from domain.outcome import DeclarationOutcome, OutcomeStatus, PortalError
from duties.tariff import Tariff
from portal import codes
from portal.adjustments import OnDecision, adjustment_router
from portal.assessment import Assessment, assess
from portal.carm_api import carm_router
from portal.payments import PortalCalendar, payment_router
from portal.rpp import RppCheck, rpp_router
from portal.store import Delegation, IdempotencyRecord, PortalStore, StoreConflict, StoredVersion
from validators.reference_data import DEFAULT_DIRECTORY, ReferenceData, load_reason_codes

DECLARATIONS_PATH = "/v1/declarations"
DEFAULT_DELEGATIONS = Path(__file__).resolve().parent.parent / "fixtures" / "reference" / "delegations.csv"
_BROKER_ACCOUNT = r"^(\d{9}|\d{9}[A-Z]{2}\d{4})$"
"""A BN9 or a BN15."""
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


class PartyIn(BaseModel):
    account: str = Field(pattern=_BROKER_ACCOUNT, description="BN15 (importers: RM account) or BN9 (brokers)")
    role: str = Field(pattern="^(importer|broker)$")
    name: str | None = None


class PartyOut(BaseModel):
    account: str
    role: str
    name: str | None


class DelegationIn(BaseModel):
    importer: ProgramAccount = Field(description="The importer's BN15 RM account")
    broker: str = Field(pattern=_BROKER_ACCOUNT, description="BN9 (every account of the broker) or BN15")
    valid_from: dt.date | None = Field(default=None, description="Default: today (UTC)")
    valid_to: dt.date | None = Field(default=None, description="Inclusive; none: open-ended")


class DelegationOut(BaseModel):
    id: int
    importer: str
    broker: str
    valid_from: dt.date
    valid_to: dt.date | None
    revoked_at: dt.datetime | None
    active: bool


class DelegationList(BaseModel):
    delegations: list[DelegationOut]


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
    202: _documented(DeclarationOutcome, "An adjustment (after the due date): assessed, pending (42) a decision."),
    412: _documented(DeclarationOutcome, "Sender does not match (status 412, code 69): no active delegation."),
    415: _documented(DeclarationOutcome, "Unknown trading partner (status 415, code 90): declarant not registered."),
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
    """Original, change and cancellation rules against the versions stored so far. A version
    number counts every stored version, refused adjustments too (numbers are never reused);
    whether the CAD is cancelled is the latest accepted version's; while an adjustment awaits
    its decision no other version is taken (P107)."""
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
        accepted = [v for v in versions if v.status == OutcomeStatus.ACCEPTED.value]
        if accepted and accepted[-1].function == DeclarationFunction.CANCELLATION:
            message = f"Transaction {number} was cancelled in version {accepted[-1].version}"
            errors.append(codes.TRANSACTION_CANCELLED.error("transaction_number", message))
        for pending in (v for v in versions if v.status == OutcomeStatus.PENDING.value):
            message = (
                f"Version {pending.version} of transaction {number} is an adjustment awaiting an operator's decision"
            )
            errors.append(codes.ADJUSTMENT_PENDING.error("transaction_number", message))
        if version != latest.version + 1:
            message = f"Version {version} is not {latest.version + 1}, the next after version {latest.version}"
            errors.append(codes.VERSION_NOT_NEXT.error("version", message))
    if declaration.function is DeclarationFunction.CHANGE and declaration.amendment is None:
        errors.append(codes.AMENDMENT_MISSING.error("amendment"))
    return errors


def reason_errors(declaration: Declaration, reason_codes: Mapping[str, str]) -> list[PortalError]:
    """The amendment's reason code against D17-2-1 Appendix A (``reason_codes.csv``, the
    reference data the gateway's rule VER-RSN reads): unknown (P108) or reserved to CBSA (P109)."""
    if declaration.amendment is None:
        return []
    code = declaration.amendment.reason_code
    use = reason_codes.get(code)
    if use is None:
        message = f"Reason code {code!r} is not a D17-2-1 Appendix A reason code"
        return [codes.REASON_CODE_UNKNOWN.error("amendment.reason_code", message)]
    if use != "importer":
        message = f"Reason code {code!r} is reserved to CBSA (D17-2-1 Appendix A); a filer may not use it"
        return [codes.REASON_CODE_RESERVED.error("amendment.reason_code", message)]
    return []


def is_adjustment(
    declaration: Declaration, versions: Sequence[StoredVersion], calendar: PortalCalendar, received_at: dt.datetime
) -> bool:
    """A change or cancellation received after the correction deadline (23:59:59 Eastern on
    the payment due date of the original's release): decided by the time received, not by
    the amendment kind the filer declared."""
    if declaration.function is DeclarationFunction.ORIGINAL or not versions:
        return False
    release = dt.date.fromisoformat(versions[0].body["release_date"])
    return received_at > calendar.correction_deadline(release)


def sender_outcome(store: PortalStore, declaration: Declaration, received_at: dt.datetime) -> DeclarationOutcome | None:
    """CARM's sender checks, before any business rule: the declarant must be registered
    (else 415 / code 90) and, filing for another business's RM account, hold a delegation
    from it active on the day received (else 412 / code 69). None when they pass; an
    importer account that is not RM is left to ``party_errors`` (P301)."""
    importer, declarant = declaration.importer.account, declaration.declarant.account
    identity = {
        "transaction_number": declaration.transaction_number,
        "version": declaration.version,
        "received_at": received_at,
    }
    if store.party(declarant) is None:
        message = f"Declarant {declarant} is not a registered trading partner"
        error = codes.UNKNOWN_PARTNER.error("declarant.account", message)
        return DeclarationOutcome(status=OutcomeStatus.UNKNOWN_PARTNER, errors=[error], **identity)
    if not is_program_account(importer, "RM") or bn9_of(importer) == bn9_of(declarant):
        return None
    today = received_at.date()
    if not any(d.active_on(today) for d in store.delegations(importer=importer, broker=declarant)):
        message = f"Declarant {declarant} holds no active delegation from importer {importer}"
        error = codes.SENDER_MISMATCH.error("declarant.account", message)
        return DeclarationOutcome(status=OutcomeStatus.SENDER_MISMATCH, errors=[error], **identity)
    return None


_STATUS_CODES = {
    OutcomeStatus.ACCEPTED: 201,
    OutcomeStatus.PENDING: 202,
    OutcomeStatus.SENDER_MISMATCH: 412,
    OutcomeStatus.UNKNOWN_PARTNER: 415,
}


def party_errors(declaration: Declaration) -> list[PortalError]:
    account = declaration.importer.account
    if is_program_account(account, "RM"):
        return []
    return [codes.IMPORTER_NOT_RM.error("importer.account", f"{account} is not an RM program account")]


def evaluate(
    declaration: Declaration,
    versions: Sequence[StoredVersion],
    tariff: Tariff,
    received_at: dt.datetime,
    *,
    calendar: PortalCalendar | None = None,
    reason_codes: Mapping[str, str] | None = None,
    reference: ReferenceData | None = None,
) -> DeclarationOutcome:
    """Accept with the assessment, or reject with every error found; with ``calendar``, a
    change or cancellation received after the correction deadline is an adjustment: assessed
    and pending (42) until an operator decides; with ``reason_codes``, an amendment's reason
    code is checked against them; ``reference``, the treatments and charges the assessment
    reads (None: the shipped tables).

    A cancellation withdraws the CAD: its lines are neither checked nor assessed
    and nothing is owed for it.
    """
    cancellation = declaration.function is DeclarationFunction.CANCELLATION
    assessment = Assessment() if cancellation else assess(declaration, tariff, reference)
    errors = version_errors(declaration, versions) + party_errors(declaration) + assessment.errors
    if reason_codes is not None:
        errors += reason_errors(declaration, reason_codes)
    identity = {
        "transaction_number": declaration.transaction_number,
        "version": declaration.version,
        "received_at": received_at,
    }
    if errors:
        return DeclarationOutcome(status=OutcomeStatus.REJECTED, errors=errors, **identity)
    adjustment = calendar is not None and is_adjustment(declaration, versions, calendar, received_at)
    return DeclarationOutcome(
        status=OutcomeStatus.PENDING if adjustment else OutcomeStatus.ACCEPTED,
        lines=assessment.lines,
        **assessment.totals(),
        tariff_version=tariff.version,
        **identity,
    )


# --- request handling -----------------------------------------------------------------


def request_digest(declaration: Declaration) -> str:
    """SHA-256 of the canonical JSON of the validated declaration: whitespace, key order
    and optional fields sent as null or left out do not make a different request. A
    declaration the first (one-invoice) model could hold is digested in that model's
    shape, so a key stored by an earlier release replays rather than conflicts."""
    shape = first_shape(declaration)
    dumped = shape if shape is not None else declaration.model_dump(mode="json")
    canonical = json.dumps(dumped, sort_keys=True, separators=(",", ":"))
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


def submit(
    store: PortalStore,
    tariff: Tariff,
    declaration: Declaration,
    key: str,
    *,
    check_sender: bool = False,
    rpp: RppCheck | None = None,
    calendar: PortalCalendar | None = None,
    reason_codes: Mapping[str, str] | None = None,
    reference: ReferenceData | None = None,
) -> Response:
    """Decide once per key: replay a stored answer, or decide and store it atomically.

    With ``check_sender`` (the app's setting) the sender checks come first: 412 / 415;
    with ``rpp`` an accepted declaration is measured against the importer's RPP security;
    ``calendar``, ``reason_codes`` and ``reference`` as ``evaluate``'s (an adjustment is answered 202)."""
    digest = request_digest(declaration)
    for _ in range(_MAX_DECISIONS):
        record = store.idempotency_record(key)
        if record is not None:
            return _replay(record, digest)
        versions = store.versions(declaration.transaction_number)
        received_at = dt.datetime.now(dt.UTC)
        sender = sender_outcome(store, declaration, received_at) if check_sender else None
        outcome = sender or evaluate(
            declaration, versions, tariff, received_at, calendar=calendar, reason_codes=reason_codes,
            reference=reference,
        )  # fmt: skip
        if rpp is not None:
            outcome = rpp.decide(declaration, outcome)
        status_code = _STATUS_CODES.get(outcome.status, 422)
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
    """CARM-style schema errors; a line's pointer is its place in the declaration's
    lines (``lines[3].hs_code``), as every other pointer of the portal."""
    errors = []
    starts = line_starts(_line_counts(exc.body))
    for error in exc.errors():
        loc = list(error.get("loc", ()))
        if loc and loc[0] in ("body", "path", "query", "header"):
            loc = loc[1:]
        if error.get("type") == "json_invalid":
            loc = []
        message = str(error.get("msg") or codes.SCHEMA_INVALID.title)
        pointer = loc_pointer(loc)
        errors.append(codes.SCHEMA_INVALID.error(flat_line_path(pointer, starts) if pointer else None, message))
    return errors


def _line_counts(body: Any) -> list[int]:
    """How many lines each invoice of a (perhaps invalid) request body holds (the
    one-invoice shape of earlier releases: one invoice)."""
    invoices = body.get("invoices", [body]) if isinstance(body, dict) else None
    if not isinstance(invoices, list):
        return []
    return [len(i["lines"]) if isinstance(i, dict) and isinstance(i.get("lines"), list) else 0 for i in invoices]


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


def add_latency(app: FastAPI, latency_ms: float) -> None:
    """Every request waits ``latency_ms`` before it is handled, as a distant portal's round
    trip would. The wait is an ``asyncio.sleep`` on the event loop: waiting requests overlap
    (the sync routes then run in the thread pool), so 8 requests in flight at 50 ms take about
    50 ms, not 400 ms. A plain ASGI middleware (``_Latency``): Starlette's ``@app.middleware``
    wraps every response in a task group and a stream, about 0.7 ms of CPU a request, which
    a benchmark's in-process portal would charge to the latency runs alone."""
    if latency_ms < 0:
        raise ValueError(f"latency_ms must be 0 or more, not {latency_ms}")
    if latency_ms == 0:
        return
    app.add_middleware(_Latency, seconds=latency_ms / 1000)


class _Latency:
    """ASGI middleware: each HTTP request waits ``seconds`` before the app sees it."""

    def __init__(self, app: Any, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await asyncio.sleep(self.seconds)
        await self.app(scope, receive, send)


# --- the app --------------------------------------------------------------------------


def create_app(
    database_url: str,
    tariff_path: Path | str,
    *,
    api_key: str | None = None,
    delegations_path: Path | str | None = DEFAULT_DELEGATIONS,
    reference_dir: Path | str = DEFAULT_DIRECTORY,
    latency_ms: float = 0.0,
    on_decision: OnDecision | None = None,
) -> FastAPI:
    """The portal app over the database and tariff table; with ``api_key`` every
    ``/v1`` request must send it as ``x-api-key``. Parties and delegations are seeded
    from ``delegations_path`` when the database has none; ``None`` seeds nothing
    (the sender checks still apply: register parties through the API). Statements and
    the RPP measure date by ``reference_dir``'s billing calendar, holidays and prescribed
    rates, the assessment by its treatments and charge tables (``Settings.reference_dir``).
    ``latency_ms`` delays every answer (``add_latency``), for tests and benchmarks of posts in
    flight. ``on_decision`` is told of each operator's decision on an adjustment
    (``portal.adjustments``: an audit trail's writer)."""
    store = PortalStore.from_url(database_url)
    tariff = Tariff.load(Path(tariff_path))
    calendar = PortalCalendar.load(Path(reference_dir))
    reason_codes = load_reason_codes(reference_dir)
    reference = ReferenceData.load(reference_dir)  # the assessment's treatments and charge tables
    if delegations_path is not None:
        store.seed_delegations(Path(delegations_path))
    rpp = RppCheck(store, calendar)

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
    add_latency(app, latency_ms)

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

    auth = [Depends(check_api_key)] if api_key is not None else []
    router = APIRouter(prefix="/v1", dependencies=auth)

    def decide(declaration: Declaration, key: str) -> Response:
        """The decision both APIs answer (JSON here, CAD-OUT through portal/carm_api.py)."""
        return submit(
            store, tariff, declaration, key, check_sender=True, rpp=rpp, calendar=calendar,
            reason_codes=reason_codes, reference=reference,
        )  # fmt: skip

    @router.post("/declarations", status_code=201, responses=_POST_RESPONSES)
    def post_declaration(declaration: Declaration, key: Annotated[str, Depends(idempotency_key)]) -> Response:
        """Submit one declaration version. A repeat with the same Idempotency-Key and body is
        answered with the first status and body, unchanged (header ``Idempotent-Replayed``)."""
        return decide(declaration, key)

    @router.get("/declarations/{transaction_number}", response_model=DeclarationHistory, responses=_GET_RESPONSES)
    def get_declaration(transaction_number: str) -> DeclarationHistory:
        """The latest accepted version with its outcome, and a summary of every version
        (pending and refused adjustments too)."""
        versions = store.versions(transaction_number)
        if not versions:
            raise PortalHTTPError(404, [codes.NOT_FOUND.error("transaction_number")])
        latest = [v for v in versions if v.status == OutcomeStatus.ACCEPTED.value][-1]
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

    @router.post("/parties", status_code=201, response_model=PartyOut, responses=_AUTH_RESPONSES)
    def post_party(party: PartyIn, response: Response) -> PartyOut:
        """Register an importer (BN15 RM account) or a broker (BN9 or BN15). An account that is
        already registered is answered 200 with its record, unchanged."""
        if party.role == "importer" and not is_program_account(party.account, "RM"):
            raise PortalHTTPError(
                422, [codes.IMPORTER_NOT_RM.error("account", f"{party.account} is not an RM program account")]
            )
        stored, created = store.add_party(party.account, party.role, party.name)
        if not created:
            response.status_code = 200
        return PartyOut(account=stored.account, role=stored.role, name=stored.name)

    @router.post("/delegations", status_code=201, response_model=DelegationOut, responses=_AUTH_RESPONSES)
    def post_delegation(delegation: DelegationIn) -> DelegationOut:
        """Record that the importer's RM account delegates to the broker (BN9: all its accounts)."""
        errors = []
        if not is_program_account(delegation.importer, "RM"):
            errors.append(
                codes.IMPORTER_NOT_RM.error("importer", f"{delegation.importer} is not an RM program account")
            )
        elif (importer := store.party(delegation.importer)) is None or importer.role != "importer":
            errors.append(
                codes.PARTY_UNKNOWN.error(
                    "importer", f"Importer {delegation.importer} is not registered as an importer"
                )
            )
        if store.party(delegation.broker) is None:
            errors.append(codes.PARTY_UNKNOWN.error("broker", f"Broker {delegation.broker} is not registered"))
        valid_from = delegation.valid_from or dt.datetime.now(dt.UTC).date()
        if delegation.valid_to is not None and delegation.valid_to < valid_from:
            errors.append(codes.DELEGATION_DATES.error("valid_to"))
        if errors:
            raise PortalHTTPError(422, errors)
        stored = store.add_delegation(delegation.importer, delegation.broker, valid_from, delegation.valid_to)
        return _delegation_out(stored)

    @router.get("/delegations", response_model=DelegationList, responses=_AUTH_RESPONSES)
    def get_delegations(
        importer: Annotated[
            str | None, Query(description="An importer account: delegations recorded for it or its BN9")
        ] = None,
        broker: Annotated[str | None, Query(description="A broker account: delegations to it or to its BN9")] = None,
        active: Annotated[bool | None, Query(description="true: only active today; false: only inactive")] = None,
    ) -> DelegationList:
        found = [_delegation_out(d) for d in store.delegations(importer=importer, broker=broker)]
        if active is not None:
            found = [d for d in found if d.active is active]
        return DelegationList(delegations=found)

    @router.delete("/delegations/{delegation_id}", response_model=DelegationOut, responses=_GET_RESPONSES)
    def revoke_delegation(delegation_id: int) -> DelegationOut:
        """Revoke a delegation; revoking it again answers the first revocation."""
        revoked = store.revoke_delegation(delegation_id, dt.datetime.now(dt.UTC))
        if revoked is None:
            raise PortalHTTPError(404, [codes.NOT_FOUND.error("id")])
        return _delegation_out(revoked)

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

    router.include_router(payment_router(store, calendar))  # payments and statements (portal/payments.py)
    router.include_router(rpp_router(rpp))  # RPP privilege and security (portal/rpp.py)
    router.include_router(
        adjustment_router(store, on_decision)
    )  # operators' decisions on adjustments (portal/adjustments.py)
    app.include_router(router)
    # The CARM-shaped XML API over the same decision (portal/carm_api.py)
    app.include_router(carm_router(store, decide, request_digest), dependencies=auth)
    return app


def _delegation_out(delegation: Delegation) -> DelegationOut:
    return DelegationOut(
        id=delegation.id,
        importer=delegation.importer,
        broker=delegation.broker,
        valid_from=delegation.valid_from,
        valid_to=delegation.valid_to,
        revoked_at=delegation.revoked_at,
        active=delegation.active_on(dt.datetime.now(dt.UTC).date()),
    )


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
