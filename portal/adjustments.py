"""Adjustments on the embedded portal: the operators' decisions and their listing.

A change or cancellation received after the correction deadline (23:59:59 Eastern on the
payment due date) is an adjustment: ``portal.app.evaluate`` assesses it and stores it pending
(status 42). An operator approves it (the version becomes 40, and its difference reaches the
statement of the approval date's billing period, ``portal.payments``) or refuses it with a
note (41 with code P120). Each decision is recorded once with who and when
(docs/portal-api.md "Adjustments", docs/rules.md "Corrections and adjustments").
"""

# No ``from __future__ import annotations``: FastAPI resolves the route signatures at runtime.

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from itertools import groupby
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from domain.declaration import DeclarationFunction
from domain.outcome import DeclarationOutcome, OutcomeStatus, PortalError
from portal import codes
from portal.headers import AUDIT_HEADER, SOURCE_HEADER
from portal.payments import difference, owed
from portal.store import (
    AdjustmentDecision,
    DecidedOtherwise,
    Decision,
    NotPending,
    PortalStore,
    StoreConflict,
    StoredVersion,
)

log = logging.getLogger(__name__)

AdjustmentState = Literal["pending", "approved", "refused"]
CALLER_SOURCES = ("cli", "page", "dag")
_STATES: dict[Decision, AdjustmentState] = {Decision.APPROVE: "approved", Decision.REFUSE: "refused"}


class DecisionIn(BaseModel):
    decision: Decision
    operator: str = Field(min_length=1, max_length=255, description="Who decides (the CLI sends the OS user)")
    note: str | None = Field(default=None, max_length=2000, description="Why; required to refuse")


class Adjustment(BaseModel):
    transaction_number: str
    version: int
    function: DeclarationFunction
    state: AdjustmentState
    status: OutcomeStatus
    received_at: dt.datetime
    assessed: Decimal = Field(description="The adjustment's assessed total (0 for a cancellation)")
    difference: Decimal = Field(description="Its assessed total less the accepted version's before it")
    operator: str | None = None
    note: str | None = None
    decided_at: dt.datetime | None = None


@dataclass(frozen=True)
class DecisionMade:
    """A decision the portal recorded (``first``) or answered again unchanged, for an audit trail."""

    adjustment: dict[str, Any]  # the answer's body: transaction_number, version, state, operator, note, difference...
    decision: str  # approve, refuse
    operator: str  # who asked (the adjustment's operator is who decided first)
    source: str  # the caller's SOURCE_HEADER (cli, page, dag), else "portal"
    first: bool


OnDecision = Callable[[DecisionMade], None]
"""Told of every decision the portal answers (201 or 200); the portal knows no audit trail itself."""


class AdjustmentList(BaseModel):
    adjustments: list[Adjustment]


def decided_outcome(outcome: DeclarationOutcome, decision: AdjustmentDecision) -> DeclarationOutcome:
    """The version's outcome once decided: approved, status 40 with its assessment; refused,
    status 41 with P120 carrying the operator's note."""
    if decision.decision is Decision.APPROVE:
        return outcome.model_copy(update={"status": OutcomeStatus.ACCEPTED})
    message = f"{codes.ADJUSTMENT_REFUSED.title}: {decision.note}"
    return outcome.model_copy(
        update={"status": OutcomeStatus.REJECTED, "errors": [codes.ADJUSTMENT_REFUSED.error(None, message)]}
    )


def adjustments(store: PortalStore, transaction_number: str | None = None) -> list[Adjustment]:
    """Every adjustment (pending, or decided), by transaction then version."""
    decisions = store.decisions(transaction_number)
    stored = store.versions(transaction_number) if transaction_number else store.all_versions()
    found = []
    for _, group in groupby(stored, key=lambda v: v.transaction_number):
        versions = list(group)
        for version in versions:
            decision = decisions.get((version.transaction_number, version.version))
            if decision is not None or version.status == OutcomeStatus.PENDING.value:
                found.append(_adjustment(versions, version, decision))
    return found


def _adjustment(
    versions: list[StoredVersion], version: StoredVersion, decision: AdjustmentDecision | None
) -> Adjustment:
    return Adjustment(
        transaction_number=version.transaction_number,
        version=version.version,
        function=DeclarationFunction(version.function),
        state="pending" if decision is None else _STATES[decision.decision],
        status=OutcomeStatus(version.status),
        received_at=version.received_at,
        assessed=owed(version),
        difference=difference(versions, version),
        operator=decision.operator if decision else None,
        note=decision.note if decision else None,
        decided_at=decision.decided_at if decision else None,
    )


def _errors(status_code: int, errors: list[PortalError]) -> JSONResponse:
    return JSONResponse({"errors": [e.model_dump(mode="json") for e in errors]}, status_code=status_code)


def decide(
    store: PortalStore, transaction_number: str, version: int, decision: DecisionIn, decided_at: dt.datetime
) -> JSONResponse:
    """Record the decision: 201 with the adjustment; the same decision again 200, unchanged;
    404 unknown version, 409 not pending (P110) or decided the other way (P111), 422 a refusal
    without a note (P112)."""
    note = (decision.note or "").strip() or None
    if decision.decision is Decision.REFUSE and note is None:
        return _errors(422, [codes.REFUSAL_NOTE_MISSING.error("note")])
    for _ in range(3):
        try:
            made = store.decide(
                transaction_number,
                version,
                decision.decision,
                operator=decision.operator,
                note=note,
                decided_at=decided_at,
                decided_outcome=decided_outcome,
            )
        except StoreConflict:
            continue  # another operator decided first: decide again against theirs
        except NotPending as error:
            return _errors(409, [codes.NOT_PENDING.error("version", str(error))])
        except DecidedOtherwise as error:
            first = error.decided
            message = f"{error}: by {first.operator} at {first.decided_at.isoformat()}"
            return _errors(409, [codes.DECIDED_OTHERWISE.error("decision", message)])
        if made is None:
            return _errors(404, [codes.NOT_FOUND.error("version")])
        recorded, now = made
        versions = store.versions(transaction_number)
        [stored] = [v for v in versions if v.version == version]
        body = _adjustment(versions, stored, recorded).model_dump(mode="json")
        return JSONResponse(body, status_code=201 if now else 200)
    return _errors(503, [codes.TRY_AGAIN.error()])


def adjustment_router(store: PortalStore, on_decision: OnDecision | None = None) -> APIRouter:
    """The decision and listing routes (mounted under ``/v1`` by ``portal.app``); ``on_decision``
    is told of each decision answered (an audit trail's writer: ``carm-edi portal serve`` gives
    the gateway ledger's). Its failure is logged and the answer then lacks ``AUDIT_HEADER``,
    so the caller records the decision itself."""
    router = APIRouter()

    @router.post(
        "/declarations/{transaction_number}/versions/{version}/decision",
        status_code=201,
        response_model=Adjustment,
        responses={200: {"model": Adjustment, "description": "The same decision again: the first, unchanged"}},
    )
    def post_decision(
        transaction_number: str,
        version: int,
        decision: DecisionIn,
        source: Annotated[str | None, Header(alias=SOURCE_HEADER, description="cli, page or dag")] = None,
    ) -> Any:
        """Approve or refuse a pending adjustment (a refusal needs a note); recorded with who and when."""
        answer = decide(store, transaction_number, version, decision, dt.datetime.now(dt.UTC))
        if on_decision is not None and answer.status_code in (200, 201):
            made = DecisionMade(
                adjustment=json.loads(bytes(answer.body)),
                decision=decision.decision.value,
                operator=decision.operator,
                source=source if source in CALLER_SOURCES else "portal",
                first=answer.status_code == 201,
            )
            try:
                on_decision(made)
            except Exception:  # the decision stands; the caller records it
                log.exception("decision on %s v%d not written to the audit trail", transaction_number, version)
            else:
                answer.headers[AUDIT_HEADER] = "recorded"
        return answer

    @router.get("/adjustments", response_model=AdjustmentList)
    def get_adjustments(
        status: Annotated[AdjustmentState | None, Query(description="pending, approved or refused")] = None,
        transaction_number: Annotated[str | None, Query(description="Only this transaction's")] = None,
    ) -> AdjustmentList:
        """Every adjustment, oldest transaction and version first."""
        found = adjustments(store, transaction_number)
        return AdjustmentList(adjustments=[a for a in found if status is None or a.state == status])

    return router
