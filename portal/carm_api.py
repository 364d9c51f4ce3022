"""The embedded portal's CARM-shaped API: CAD-IN XML in, CAD-OUT XML out (docs/portal-api.md "The CARM API").

``POST /carm/v1/cad`` takes a CAD-IN document holding one Declaration, decides it
exactly as ``POST /v1/declarations`` does (the same store, rules, sender checks,
RPP check and pending adjustments: ``decide`` is the JSON API's ``submit``) and
answers a CAD-OUT with one Response. ``GET /carm/v1/cad?TransactionNumber=``
answers a CAD-OUT with one Response per stored version, as it stands now (an
adjustment an operator decided reads 40 or 41), or 077 "No Data Found".

HTTP statuses follow the CAD-OUT status: 200 accepted, 202 pending (42), 400
syntax error (400) or rejected (41), 412, 415, and 503 for an XSD validation
error, each with its CAD-OUT body (a client tells CARM's verdict from a transport
failure by that body). An identical resubmission of a version is answered with
its first answer (the key is the version and the body's digest): our assumption,
CARM's behaviour is not public.
"""

# No ``from __future__ import annotations``: FastAPI resolves the route signatures at runtime.

import datetime as dt
import io
from collections.abc import Callable

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from diagnostics import Finding
from domain.declaration import Declaration
from domain.outcome import DeclarationOutcome, OutcomeStatus, PortalError
from mappings.cadout import CadOutError, CadOutResponse, write_cadout
from mappings.cadxml_declaration import invoice_starts, map_cad_declaration, xpath_of
from parsers.xml.cad_reader import DeclarationRead, HeaderRead, ReadProblem, read_cad_in
from portal import codes
from portal.store import PortalStore

CAD_PATH = "/carm/v1/cad"
XML = "application/xml"
SENDER_ID = "CBSA-EMBEDDED"

_HTTP_STATUS = {
    OutcomeStatus.ACCEPTED: 200,
    OutcomeStatus.PENDING: 202,
    OutcomeStatus.ACKNOWLEDGED: 202,
    OutcomeStatus.REJECTED: 400,
    OutcomeStatus.SYNTAX_ERROR: 400,
    OutcomeStatus.SENDER_MISMATCH: 412,
    OutcomeStatus.UNKNOWN_PARTNER: 415,
    OutcomeStatus.SCHEMA_ERROR: 503,
}

Decide = Callable[[Declaration, str], Response]
"""The JSON API's decision for one declaration under one idempotency key (``portal.app.submit``)."""


def carm_router(store: PortalStore, decide: Decide, digest: Callable[[Declaration], str]) -> APIRouter:
    """The CARM-shaped routes over the portal's store and decision (``digest``: the request digest)."""
    router = APIRouter()

    @router.post(CAD_PATH, response_class=Response, responses={200: {"content": {XML: {}}}})
    async def post_cad(request: Request) -> Response:
        """Submit one declaration version as a CAD-IN document; the answer is a CAD-OUT."""
        body = await request.body()
        return await run_in_threadpool(_post, body)

    def _post(body: bytes) -> Response:
        header: HeaderRead | None = None
        read: list[DeclarationRead] = []
        for event in read_cad_in(io.BytesIO(body)):
            if isinstance(event, ReadProblem):
                status = OutcomeStatus.SCHEMA_ERROR if event.status == "503" else OutcomeStatus.SYNTAX_ERROR
                location = event.finding.location
                return _answer(status, [CadOutError(event.finding.code, event.finding.message, location.xpath)])
            if isinstance(event, HeaderRead):
                header = event
                continue
            if len(read) == 1:
                return _answer(
                    OutcomeStatus.SYNTAX_ERROR,
                    [CadOutError(codes.ONE_DECLARATION.code, codes.ONE_DECLARATION.title, event.xpath)],
                )
            read.append(event)
            if event.findings:  # schema errors: CARM's 503
                return _answer(OutcomeStatus.SCHEMA_ERROR, [_finding(f) for f in event.findings])
            mapped = map_cad_declaration(event.element, event.xpath)
            if mapped.declaration is None or mapped.findings:
                return _answer(
                    OutcomeStatus.SYNTAX_ERROR, [_finding(f) for f in mapped.findings], mapped.transaction_number
                )
            declaration = mapped.declaration
        if not read:
            return _answer(
                OutcomeStatus.SYNTAX_ERROR,
                [CadOutError(codes.ONE_DECLARATION.code, codes.ONE_DECLARATION.title, "/DocumentMetaData")],
            )
        declarants = [s for s in header.senders if s.role == "AK"] if header is not None else []
        if any(sender.id != declaration.declarant.account for sender in declarants):
            sender = declarants[0]
            message = f"{codes.SENDER_MISMATCH.title}: sender {sender.id} is not the declarant {declaration.declarant.account}"
            outcome = DeclarationOutcome(
                transaction_number=declaration.transaction_number,
                version=declaration.version,
                status=OutcomeStatus.SENDER_MISMATCH,
                received_at=dt.datetime.now(dt.UTC),
                errors=[PortalError(code=codes.SENDER_MISMATCH.code, message=message, pointer=None)],
            )
            return _outcome_answer(declaration, outcome, sender_xpath=sender.xpath)
        key = f"carm-{declaration.transaction_number}-{declaration.version:05d}-{digest(declaration)[:32]}"
        decided = decide(declaration, key)
        if decided.status_code not in (200, 201, 202, 412, 415, 422):
            return decided  # 503 P005: lost write races, retry (a JSON error: no CARM status)
        return _outcome_answer(declaration, DeclarationOutcome.model_validate_json(bytes(decided.body)))

    @router.get(CAD_PATH, response_class=Response, responses={200: {"content": {XML: {}}}})
    def query_cad(
        transaction_number: str = Query(alias="TransactionNumber", description="The 14-digit transaction number"),
    ) -> Response:
        """Every stored version of the transaction with its current answer (077 when none)."""
        versions = store.versions(transaction_number)
        if not versions:
            error = CadOutError(codes.NOT_FOUND.code, codes.NOT_FOUND.title, None)
            return _document([CadOutResponse(OutcomeStatus.SYNTAX_ERROR.value, [error])], 400)
        responses = []
        for stored in versions:
            declaration = Declaration.model_validate(stored.body)
            outcome = DeclarationOutcome.model_validate(stored.outcome)
            responses.append(_response(declaration, outcome))
        return _document(responses, 200)

    return router


def _finding(finding: Finding) -> CadOutError:
    return CadOutError(finding.code, finding.message, finding.location.xpath, finding.location.line)


def _response(declaration: Declaration, outcome: DeclarationOutcome, sender_xpath: str | None = None) -> CadOutResponse:
    starts = invoice_starts(declaration)
    base = "/DocumentMetaData/Declaration[1]"
    errors = [
        CadOutError(
            error.code,
            error.message,
            base + xpath_of(error.pointer, starts) if error.pointer else (sender_xpath or base),
            warning=warning,
        )
        for found, warning in ((outcome.errors, False), (outcome.warnings, True))
        for error in found
    ]
    return CadOutResponse(
        status=outcome.status.value,
        errors=errors,
        sequence=1,
        transaction_number=declaration.transaction_number,
        version=f"{declaration.version:05d}",
        filer_reference=declaration.filer_reference,
        outcome=outcome,
    )


def _outcome_answer(declaration: Declaration, outcome: DeclarationOutcome, sender_xpath: str | None = None) -> Response:
    return _document([_response(declaration, outcome, sender_xpath)], _HTTP_STATUS[outcome.status])


def _answer(status: OutcomeStatus, errors: list[CadOutError], transaction_number: str | None = None) -> Response:
    return _document(
        [CadOutResponse(status.value, errors, transaction_number=transaction_number)], _HTTP_STATUS[status]
    )


def _document(responses: list[CadOutResponse], status_code: int) -> Response:
    out = io.BytesIO()
    write_cadout(out, responses, sender_id=SENDER_ID, application_reference=None, issued=dt.datetime.now(dt.UTC))
    return Response(out.getvalue(), status_code=status_code, media_type=XML)
