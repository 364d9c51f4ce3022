"""Release Prior to Payment (RPP) and the importer's financial security (docs/portal-api.md).

CARM lets an importer's goods be released before the duties and taxes are paid only
while it holds the RPP privilege, and since the transition ended (2025-05-20) only with
its own financial security posted: a bond for 50 % of its highest monthly accounts
receivable (minimum $5,000 per RM account), or a cash deposit for 100 %; $10 M is the
cap (carm-brief §1, carm-rules-review; sources in docs/decisions.md).

The portal keeps, per importer RM account, the privilege (active or none, since when)
and the security posted (kind, amount, date) in its own table, created like the
payment tables (a database made before it gains the table, nothing else changes).
``PUT``/``GET /v1/importers/{account}/rpp`` set and read them; the read also measures
the account: what is outstanding on its statement (portal/payments.py computes it),
what the security covers, the highest monthly amount assessed and the security CARM
would require for it.

On each accepted declaration of an importer with an RPP record, ``RppCheck`` decides:
no privilege → refused (P312); privilege but no security for a release from
2025-05-20 on → refused (P311); outstanding after this declaration beyond what the
security covers → accepted with a warning (P310). An importer with no RPP record is
not checked (every portal database before this feature; docs/decisions.md).
"""

# No ``from __future__ import annotations``: FastAPI resolves the route signatures at runtime.

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Date, DateTime, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from domain.declaration import Declaration, DeclarationFunction
from domain.identifiers import is_program_account
from domain.outcome import DeclarationOutcome, OutcomeStatus, PortalError
from portal.codes import IMPORTER_NOT_RM, NOT_FOUND, PARTY_UNKNOWN, ValidationCode
from portal.payments import PortalCalendar, statement
from portal.store import PortalStore, _Base, _utc

TRANSITION_END = dt.date(2025, 5, 20)
"""The RPP transition measure ended at 3:00 EDT on 2025-05-20: from then on an RPP
importer's goods are released before payment only against its posted security."""
BOND_SHARE = Decimal("0.50")
"""A bond stands for 50 % of the highest monthly accounts receivable, cash for 100 %."""
MINIMUM_BOND = Decimal("5000.00")
MAXIMUM_SECURITY = Decimal("10000000.00")
MEASURED_DAYS = 365
"""The highest monthly amount is looked for in the billing periods that ended in the last year."""
CENT = Decimal("0.01")

SECURITY_OVER = ValidationCode(
    "P310", "The importer's outstanding amount exceeds what its RPP security covers: pay down or raise the security"
)
SECURITY_MISSING = ValidationCode(
    "P311", "The importer has posted no RPP security: release before payment ended with the transition on 2025-05-20"
)
NOT_RPP = ValidationCode("P312", "The importer holds no RPP privilege: its goods are released only once paid")
SECURITY_INVALID = ValidationCode("P313", "The RPP security must be a bond or cash with an amount above zero")


class RppStatus(StrEnum):
    ACTIVE = "active"
    NONE = "none"


class SecurityKind(StrEnum):
    BOND = "bond"
    CASH = "cash"


class _RppRow(_Base):
    __tablename__ = "portal_rpp"

    account: Mapped[str] = mapped_column(String(15), primary_key=True, doc="the importer's BN15 RM account")
    status: Mapped[str] = mapped_column(String(8))
    since: Mapped[dt.date] = mapped_column(Date)
    security_kind: Mapped[str | None] = mapped_column(String(4), nullable=True)
    security_amount: Mapped[str | None] = mapped_column(String(24), nullable=True, doc="Decimal as text: exact")
    security_posted: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


_TABLES = [_Base.metadata.tables[_RppRow.__tablename__]]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Security(_Model):
    kind: SecurityKind
    amount: Decimal = Field(description="CAD, at most 2 decimals")
    posted: dt.date


class RppIn(_Model):
    status: RppStatus
    since: dt.date | None = Field(default=None, description="Default: today (UTC)")
    security: Security | None = None


class RppMeasure(_Model):
    as_of: dt.date
    outstanding: Decimal = Field(description="Owed on the account's declarations (its statement's amount due)")
    covers: Decimal = Field(description="What the security stands for: a bond twice its amount, cash its amount")
    over_by: Decimal = Field(description="Outstanding beyond what the security covers; 0.00 within it")
    highest_monthly: Decimal = Field(description="Highest billing period's assessed amount in the last 12 months")
    required_bond: Decimal
    required_cash: Decimal
    sufficient: bool = Field(description="The security posted reaches the requirement for its kind")


class RppOut(_Model):
    account: str
    status: RppStatus
    since: dt.date
    security: Security | None
    updated_at: dt.datetime
    measure: RppMeasure


def required_security(kind: SecurityKind, highest_monthly: Decimal) -> Decimal:
    """CARM's requirement: a bond 50 % of the highest monthly receivable, at least $5,000;
    cash 100 %; neither more than $10 M (docs/decisions.md)."""
    if kind is SecurityKind.BOND:
        required = max(MINIMUM_BOND, (highest_monthly * BOND_SHARE).quantize(CENT, ROUND_HALF_UP))
    else:
        required = highest_monthly.quantize(CENT, ROUND_HALF_UP)
    return min(required, MAXIMUM_SECURITY)


def coverage(security: Security) -> Decimal:
    """The receivable a security stands for: a bond posted for 50 % covers twice its amount."""
    return security.amount / BOND_SHARE if security.kind is SecurityKind.BOND else security.amount


class RppCheck:
    """The RPP records and the measure against the statement; decides on accepted declarations."""

    def __init__(self, store: PortalStore, calendar: PortalCalendar) -> None:
        self.store = store
        _Base.metadata.create_all(store.engine, tables=_TABLES)
        self._calendar = calendar  # the statement's: the same object payment_router dates by

    # records ---------------------------------------------------------------------------

    def record(self, account: str) -> RppIn | None:
        with Session(self.store.engine) as session:
            row = session.get(_RppRow, account)
            return None if row is None else _record(row)

    def updated_at(self, account: str) -> dt.datetime | None:
        with Session(self.store.engine) as session:
            row = session.get(_RppRow, account)
            return None if row is None else _utc(row.updated_at)

    def put(self, account: str, rpp: RppIn, now: dt.datetime) -> None:
        security = rpp.security
        with Session(self.store.engine) as session, session.begin():
            row = session.get(_RppRow, account)
            if row is None:
                row = _RppRow(account=account)
                session.add(row)
            row.status = rpp.status.value
            row.since = rpp.since or now.date()
            row.security_kind = security.kind.value if security else None
            row.security_amount = str(security.amount) if security else None
            row.security_posted = security.posted if security else None
            row.updated_at = now

    # the measure -----------------------------------------------------------------------

    def measure(self, account: str, security: Security | None, as_of: dt.date) -> RppMeasure:
        found = statement(self.store, account, as_of, self._calendar)
        since = as_of - dt.timedelta(days=MEASURED_DAYS)
        highest = max((p.assessed for p in found.periods if p.period_end > since), default=Decimal("0.00"))
        covers = coverage(security) if security else Decimal("0.00")
        required = {kind: required_security(kind, highest) for kind in SecurityKind}
        return RppMeasure(
            as_of=as_of,
            outstanding=found.amount_due,
            covers=covers.quantize(CENT),
            over_by=max(found.amount_due - covers, Decimal("0")).quantize(CENT),
            highest_monthly=highest,
            required_bond=required[SecurityKind.BOND],
            required_cash=required[SecurityKind.CASH],
            sufficient=security is not None and security.amount >= required[security.kind],
        )

    def outstanding_after(self, declaration: Declaration, outcome: DeclarationOutcome, as_of: dt.date) -> Decimal:
        """The account's outstanding once this version is on it: every other declaration's
        outstanding, plus this one's assessment less what was already paid on it."""
        account = declaration.importer.account
        found = statement(self.store, account, as_of, self._calendar)
        others = sum(
            (d.outstanding for d in found.debits if d.transaction_number != declaration.transaction_number),
            Decimal("0.00"),
        )
        paid = sum(
            (d.paid for d in found.debits if d.transaction_number == declaration.transaction_number), Decimal("0.00")
        )
        return others + max(outcome.total_due - paid, Decimal("0.00"))

    # the decision ----------------------------------------------------------------------

    def decide(self, declaration: Declaration, outcome: DeclarationOutcome) -> DeclarationOutcome:
        """The accepted outcome as the importer's RPP standing leaves it: unchanged, with a
        warning (P310), or rejected (P311, P312). A cancellation owes nothing: never checked."""
        account = declaration.importer.account
        if not outcome.status.accepted or declaration.function is DeclarationFunction.CANCELLATION:
            return outcome
        rpp = self.record(account)
        if rpp is None:
            return outcome
        if rpp.status is RppStatus.NONE:
            message = f"Importer {account} holds no RPP privilege (since {rpp.since}): its goods are released once paid"
            return _rejected(outcome, NOT_RPP.error("importer.account", message))
        security = rpp.security
        if security is None:
            if declaration.release_date < TRANSITION_END:
                return outcome
            message = (
                f"Importer {account} has posted no RPP security: goods released on {declaration.release_date} "
                f"needed it (the transition ended on {TRANSITION_END})"
            )
            return _rejected(outcome, SECURITY_MISSING.error("importer.account", message))
        received = outcome.received_at or dt.datetime.now(dt.UTC)
        outstanding = self.outstanding_after(declaration, outcome, received.date())
        covers = coverage(security).quantize(CENT)
        if outstanding <= covers:
            return outcome
        message = (
            f"Importer {account} owes {outstanding} with this declaration, {outstanding - covers} more than its "
            f"{security.kind.value} of {security.amount} covers ({covers}): pay down or raise the security"
        )
        return outcome.model_copy(update={"warnings": [SECURITY_OVER.error("importer.account", message)]})


def _record(row: _RppRow) -> RppIn:
    security = None
    if row.security_kind is not None and row.security_amount is not None and row.security_posted is not None:
        security = Security(
            kind=SecurityKind(row.security_kind), amount=Decimal(row.security_amount), posted=row.security_posted
        )
    return RppIn(status=RppStatus(row.status), since=row.since, security=security)


def _rejected(outcome: DeclarationOutcome, error: PortalError) -> DeclarationOutcome:
    return DeclarationOutcome(
        transaction_number=outcome.transaction_number,
        version=outcome.version,
        status=OutcomeStatus.REJECTED,
        received_at=outcome.received_at,
        errors=[error],
    )


def _errors(status_code: int, errors: list[PortalError]) -> JSONResponse:
    return JSONResponse({"errors": [e.model_dump(mode="json") for e in errors]}, status_code=status_code)


def rpp_router(check: RppCheck) -> APIRouter:
    """The RPP routes (mounted under ``/v1`` by ``portal.app``)."""
    router = APIRouter()
    store = check.store
    account_path = Path(description="The importer's BN15 RM account")

    def importer_errors(account: str) -> list[PortalError]:
        if not is_program_account(account, "RM"):
            return [IMPORTER_NOT_RM.error("account", f"{account} is not an RM program account")]
        party = store.party(account)
        if party is None or party.role != "importer":
            return [PARTY_UNKNOWN.error("account", f"Importer {account} is not registered as an importer")]
        return []

    def answer(account: str, as_of: dt.date) -> RppOut | None:
        rpp, updated_at = check.record(account), check.updated_at(account)
        if rpp is None or updated_at is None or rpp.since is None:
            return None
        return RppOut(
            account=account,
            status=rpp.status,
            since=rpp.since,
            security=rpp.security,
            updated_at=updated_at,
            measure=check.measure(account, rpp.security, as_of),
        )

    @router.put("/importers/{account}/rpp", response_model=RppOut)
    def put_rpp(account: Annotated[str, account_path], rpp: RppIn) -> Any:
        """Set the importer's RPP privilege and its security (replacing what was recorded)."""
        errors = importer_errors(account)
        security = rpp.security
        if security is not None and (
            not security.amount.is_finite() or security.amount <= 0 or security.amount != security.amount.quantize(CENT)
        ):
            errors.append(
                SECURITY_INVALID.error(
                    "security.amount", f"Amount {security.amount} must be above zero with at most 2 decimals"
                )
            )
        if errors:
            return _errors(422, errors)
        now = dt.datetime.now(dt.UTC)
        check.put(account, rpp, now)
        return answer(account, now.date())

    @router.get("/importers/{account}/rpp", response_model=RppOut)
    def get_rpp(
        account: Annotated[str, account_path],
        as_of: Annotated[dt.date | None, Query(description="Default: today (UTC)")] = None,
    ) -> Any:
        """The importer's RPP privilege, its security and the measure of its account against it."""
        found = answer(account, as_of or dt.datetime.now(dt.UTC).date())
        if found is None:
            return _errors(404, [NOT_FOUND.error("account", f"No RPP record for {account}")])
        return found

    return router


__all__ = ["RppCheck", "RppIn", "RppOut", "Security", "SecurityKind", "required_security", "rpp_router"]
