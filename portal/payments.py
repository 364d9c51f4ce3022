"""Payments and the program account's ledger in the embedded portal (docs/formats/payments.md).

``POST /v1/payments`` takes one ``Payment`` with an ``Idempotency-Key`` and applies its
remittance items to the accounts they name: 201 with status 40 and the applications, or
422 with status 41 and every error (P401–P407). ``GET /v1/payments/{end_to_end_reference}``
answers a stored payment's outcome; ``GET /v1/accounts/{account}/statement`` the account's
statement: its declarations (debits, from the accepted declaration versions: the CAD-OUT /
CUSRES flows make them; one line per transaction, and one more per approved adjustment on the
billing period of its approval), its payments (credits), the balance, what is due per billing
period with its statement date and due date, and the adjustments still pending (outside the totals).

Application is a deterministic replay, in the order the portal received the payments:
an item that names transaction numbers pays those (up to what each still owes); an item
that names a statement (billing period) pays that period's declarations oldest first; an
item that names only the account pays the account's declarations oldest due date first.
What is left of an item is *unapplied* and stays on the statement as a credit. A payment
is stored once: a repeated Idempotency-Key replays the first answer, and an end-to-end
reference used by an earlier payment is rejected (P404) — nothing is applied twice.
"""

# No ``from __future__ import annotations``: FastAPI resolves the route signatures at runtime.

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import groupby, pairwise
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import APIRouter, Header, Query
from fastapi.responses import Response
from sqlalchemy import JSON, Date, DateTime, Integer, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from domain.declaration import DeclarationFunction
from domain.identifiers import bn9_of, bn9_valid, is_program_account
from domain.outcome import TOTALS, OutcomeStatus, PortalError
from domain.payment import (
    CBSA_CURRENCY,
    Application,
    BillingCalendar,
    CreditLine,
    DebitKind,
    DebitLine,
    DuePeriod,
    Payment,
    PaymentOutcome,
    PaymentStatus,
    PendingAdjustment,
    Statement,
    late_interest,
    period_id,
    statement_date,
)
from portal.codes import IDEMPOTENCY_KEY_MISSING, IDEMPOTENCY_KEY_REUSED, NOT_FOUND, TRY_AGAIN, ValidationCode
from portal.store import PortalStore, StoreConflict, StoredVersion, _Base, _IdempotencyRow, _PartyRow, _utc
from validators.reference_data import (
    DEFAULT_DIRECTORY,
    PrescribedRates,
    load_calendar,
    load_prescribed_rates,
    read_table,
)

ZERO = Decimal("0.00")
EASTERN = ZoneInfo("America/Toronto")
"""CBSA's deadlines are Eastern time (the correction window closes 11:59 pm ET)."""
CENT = Decimal("0.01")

# Validation codes of the payments endpoint (our choices, docs/formats/payments.md).
ACCOUNT_UNKNOWN = ValidationCode("P401", "The program account is not registered with the portal")
CURRENCY_NOT_CAD = ValidationCode("P402", "Payments are accepted in CAD only")
AMOUNTS_DO_NOT_ADD_UP = ValidationCode("P403", "The remitted amounts do not add up to the payment amount")
DUPLICATE_PAYMENT = ValidationCode("P404", "A payment with this end-to-end reference was already received")
TRANSACTION_NOT_ON_ACCOUNT = ValidationCode(
    "P405", "The transaction number is not an accepted declaration of the account"
)
AMOUNT_INVALID = ValidationCode("P406", "Amounts must be greater than zero with at most 2 decimals")
ACCOUNT_INVALID = ValidationCode("P407", "The account is not a valid BN15 RM program account")
NO_REMITTANCE = ValidationCode("P408", "The payment names no program account")


# --- tables -----------------------------------------------------------------------------------


class _PaymentRow(_Base):
    __tablename__ = "portal_payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    end_to_end_reference: Mapped[str] = mapped_column(String(35), unique=True)
    message_id: Mapped[str] = mapped_column(String(35))
    channel: Mapped[str] = mapped_column(String(16))
    amount: Mapped[str] = mapped_column(String(24), doc="Decimal as text: exact")
    currency: Mapped[str] = mapped_column(String(3))
    value_date: Mapped[dt.date] = mapped_column(Date)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class _PaymentItemRow(_Base):
    __tablename__ = "portal_payment_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    payment_id: Mapped[int] = mapped_column(Integer, index=True)
    position: Mapped[int] = mapped_column(Integer)
    account: Mapped[str] = mapped_column(String(15), index=True)
    amount: Mapped[str] = mapped_column(String(24))
    transaction_numbers: Mapped[list[str]] = mapped_column(JSON)
    statement: Mapped[str | None] = mapped_column(String(7), nullable=True)


_TABLES = [_Base.metadata.tables[row.__tablename__] for row in (_PaymentRow, _PaymentItemRow)]


# --- calendar ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PortalCalendar:
    """The billing calendar and holidays the portal dates its ledger by."""

    calendar: BillingCalendar
    holidays: frozenset[dt.date]
    prescribed_rates: PrescribedRates

    @classmethod
    def load(cls, directory: Path = DEFAULT_DIRECTORY) -> "PortalCalendar":
        """From a reference directory's ``billing_calendar.csv``, ``holidays.csv`` and ``prescribed_rates.csv``."""
        holidays = read_table(directory / "holidays.csv", ("date", "name"))
        return cls(
            load_calendar(directory),
            frozenset(dt.date.fromisoformat(r["date"]) for _, r in holidays.records),
            load_prescribed_rates(directory),
        )

    def period(self, day: dt.date) -> tuple[dt.date, dt.date]:
        return self.calendar.period(day)

    def due_date(self, period_end: dt.date) -> dt.date:
        return self.calendar.due_date(period_end, self.holidays)

    def release_due_date(self, release_date: dt.date) -> tuple[dt.date, dt.date]:
        """The billing period end and payment due date of goods released on ``release_date``."""
        _, end = self.period(release_date)
        return end, self.due_date(end)

    def correction_deadline(self, release_date: dt.date) -> dt.datetime:
        """The last moment a change is a correction: 23:59:59 Eastern time on the payment due
        date of the goods' release (carm-brief "Corrections, adjustments, versions"); after
        it a change is an adjustment."""
        _, due = self.release_due_date(release_date)
        return dt.datetime.combine(due, dt.time(23, 59, 59, 999999), tzinfo=EASTERN)

    def interest(self, debit: "_Debit", as_of: dt.date) -> Decimal:
        """Interest on the debit as of ``as_of``: each payment's part from the day after the
        debit's interest date (its due date; an adjustment's, the original's due date) to its
        value date, the outstanding rest to ``as_of``. Nothing on a credit (a negative debit)."""
        slices = [*debit.payments, (debit.outstanding, as_of)]
        return sum(
            (
                late_interest(amount, debit.interest_from, min(paid_on, as_of), self.prescribed_rates)
                for amount, paid_on in slices
                if amount > 0
            ),
            ZERO,
        )


# --- reading the store ------------------------------------------------------------------------


@dataclass
class _Debit:
    transaction_number: str
    version: int
    cancelled: bool
    release_date: dt.date
    assessed: Decimal
    period_end: dt.date
    due_date: dt.date
    kind: DebitKind = DebitKind.DECLARATION
    approved_at: dt.datetime | None = None
    original_due: dt.date | None = None
    """An adjustment: the original's due date, from which its interest runs."""
    paid: Decimal = ZERO
    payments: list[tuple[Decimal, dt.date]] = field(default_factory=list)

    @property
    def outstanding(self) -> Decimal:
        return self.assessed - self.paid

    @property
    def interest_from(self) -> dt.date:
        return self.original_due or self.due_date


@dataclass
class _Item:
    account: str
    amount: Decimal
    transaction_numbers: list[str]
    statement: str | None


@dataclass
class _StoredPayment:
    id: int
    payment: Payment
    received_at: dt.datetime
    items: list[_Item] = field(default_factory=list)


def _total_due(outcome: dict[str, Any]) -> Decimal:
    return sum((Decimal(str(outcome.get(name) or "0")) for name in TOTALS), ZERO)


def owed(version: StoredVersion) -> Decimal:
    """What a version leaves owing on the transaction: its assessment, nothing for a cancellation."""
    return ZERO if version.function == DeclarationFunction.CANCELLATION.value else _total_due(version.outcome)


def difference(versions: Sequence[StoredVersion], version: StoredVersion) -> Decimal:
    """What ``version`` adds to what the transaction owes: its amount less the latest accepted
    version's before it."""
    before = [v for v in versions if v.version < version.version and v.status == OutcomeStatus.ACCEPTED.value]
    return owed(version) - (owed(before[-1]) if before else ZERO)


def account_declarations(store: PortalStore, calendar: PortalCalendar) -> dict[str, list[_Debit]]:
    """Account → its debit lines. Per transaction: the latest version accepted as original or
    correction (nothing for a cancelled CAD) on the period and due date of the original's
    release; and one line per approved adjustment, its assessed total less the effective
    version's before it, on the billing period holding its approval day (Eastern time), with
    interest from the original's due date (docs/rules.md "Corrections and adjustments")."""
    decisions = store.decisions()
    accounts: dict[str, list[_Debit]] = {}
    for number, stored in groupby(store.all_versions(), key=lambda v: v.transaction_number):
        effective = [v for v in stored if v.status == OutcomeStatus.ACCEPTED.value]
        if not effective:
            continue
        release = dt.date.fromisoformat(effective[0].body["release_date"])
        end, due = calendar.release_due_date(release)
        base = [v for v in effective if (number, v.version) not in decisions][-1]
        lines = accounts.setdefault(base.body["importer"]["account"], [])
        cancelled = base.function == DeclarationFunction.CANCELLATION.value
        lines.append(_Debit(number, base.version, cancelled, release, owed(base), end, due))
        for previous, version in pairwise(effective):
            decision = decisions.get((number, version.version))
            if decision is None:
                continue
            _, approval_end = calendar.period(decision.decided_at.astimezone(EASTERN).date())
            lines.append(
                _Debit(
                    number,
                    version.version,
                    version.function == DeclarationFunction.CANCELLATION.value,
                    release,
                    owed(version) - owed(previous),
                    approval_end,
                    calendar.due_date(approval_end),
                    DebitKind.ADJUSTMENT,
                    decision.decided_at,
                    due,
                )
            )
    return accounts


def pending_adjustments(store: PortalStore, account: str) -> list[PendingAdjustment]:
    """The account's adjustments waiting for a decision, oldest first."""
    pending = []
    for _, stored in groupby(store.all_versions(), key=lambda v: v.transaction_number):
        versions = list(stored)
        if versions[0].body["importer"]["account"] != account:
            continue
        for version in versions:
            if version.status != OutcomeStatus.PENDING.value:
                continue
            pending.append(
                PendingAdjustment(
                    transaction_number=version.transaction_number,
                    version=version.version,
                    received_at=version.received_at,
                    assessed=owed(version),
                    difference=difference(versions, version),
                )
            )
    return sorted(pending, key=lambda p: p.received_at)


def _transactions(lines: Iterable[_Debit]) -> dict[str, _Debit]:
    """Each transaction's line of its latest version (cancelled: the CAD is withdrawn)."""
    latest: dict[str, _Debit] = {}
    for line in sorted(lines, key=lambda d: d.version):
        latest[line.transaction_number] = line
    return latest


def _stored_payments(store: PortalStore, account: str | None = None) -> list[_StoredPayment]:
    with Session(store.engine) as session:
        query = select(_PaymentRow).order_by(_PaymentRow.id)
        if account is not None:
            ids = select(_PaymentItemRow.payment_id).where(_PaymentItemRow.account == account)
            query = query.where(_PaymentRow.id.in_(ids))
        payments = {
            row.id: _StoredPayment(row.id, Payment.model_validate(row.body), _utc(row.received_at))
            for row in session.scalars(query)
        }
        items = session.scalars(
            select(_PaymentItemRow)
            .where(_PaymentItemRow.payment_id.in_(list(payments)))
            .order_by(_PaymentItemRow.payment_id, _PaymentItemRow.position)
        )
        for item in items:
            payments[item.payment_id].items.append(
                _Item(item.account, Decimal(item.amount), list(item.transaction_numbers), item.statement)
            )
    return list(payments.values())


# --- application ------------------------------------------------------------------------------


def _oldest_first(debits: Iterable[_Debit]) -> list[_Debit]:
    return sorted(debits, key=lambda d: (d.due_date, d.release_date, d.transaction_number, d.version))


def offset_credits(debits: Sequence[_Debit]) -> None:
    """A credit (an approved adjustment that lowers what a transaction owes) settles its
    transaction's earlier lines first, oldest due first, as of the original's due date: what
    it removed was never owed, so it bears no interest. What is left of it stays a credit
    (negative outstanding): money owed back to the importer."""
    for credit in (d for d in debits if d.assessed < 0):
        for debit in _oldest_first(d for d in debits if d.transaction_number == credit.transaction_number):
            take = min(-credit.outstanding, debit.outstanding)
            if debit is credit or take <= 0:
                continue
            debit.paid += take
            debit.payments.append((take, credit.interest_from))
            credit.paid -= take


def apply_payments(
    debits: Sequence[_Debit], payments: Sequence[_StoredPayment], account: str
) -> dict[int, list[Application]]:
    """Replay the payments (oldest first) against the account's debits, once the credits
    have settled their transactions (``offset_credits``); updates ``paid`` and returns each
    payment's applications to this account (unapplied: no transaction)."""
    offset_credits(debits)
    applied: dict[int, list[Application]] = {}
    for stored in payments:
        applications = applied.setdefault(stored.id, [])
        for item in stored.items:
            if item.account != account:
                continue
            money = item.amount
            if item.transaction_numbers:  # each named transaction's lines, oldest due first
                targets = [
                    d
                    for n in item.transaction_numbers
                    for d in _oldest_first(d for d in debits if d.transaction_number == n)
                ]
            elif item.statement:
                targets = _oldest_first(d for d in debits if period_id(d.period_end) == item.statement)
            else:
                targets = _oldest_first(debits)
            for debit in targets:
                take = min(money, debit.outstanding)
                if take <= 0:
                    continue
                debit.paid += take
                debit.payments.append((take, stored.payment.value_date))
                money -= take
                applications.append(
                    Application(account=account, transaction_number=debit.transaction_number, amount=take)
                )
                if money == 0:
                    break
            if money > 0:
                applications.append(Application(account=account, transaction_number=None, amount=money))
    return applied


def statement(store: PortalStore, account: str, as_of: dt.date, calendar: PortalCalendar) -> Statement:
    debits = account_declarations(store, calendar).get(account, [])
    payments = _stored_payments(store, account)
    applied = apply_payments(debits, payments, account)
    credits = []
    for stored in payments:
        applications = applied.get(stored.id, [])
        amount = sum((i.amount for i in stored.items if i.account == account), ZERO)
        unapplied = sum((a.amount for a in applications if a.transaction_number is None), ZERO)
        credits.append(
            CreditLine(
                payment_id=stored.id,
                end_to_end_reference=stored.payment.end_to_end_reference,
                message_id=stored.payment.message_id,
                channel=stored.payment.channel,
                value_date=stored.payment.value_date,
                received_at=stored.received_at,
                amount=amount,
                applied=amount - unapplied,
                unapplied=unapplied,
                applications=applications,
            )
        )
    ordered = _oldest_first(debits)
    interest = [calendar.interest(d, as_of) for d in ordered]
    periods: dict[dt.date, list[tuple[_Debit, Decimal]]] = {}
    for debit, owing in zip(ordered, interest, strict=True):
        periods.setdefault(debit.period_end, []).append((debit, owing))
    due = []
    for end, members in sorted(periods.items()):
        start, _ = calendar.period(end)
        outstanding = sum((d.outstanding for d, _ in members), ZERO)
        due_date = members[0][0].due_date
        due.append(
            DuePeriod(
                period=period_id(end),
                period_start=start,
                period_end=end,
                statement_date=statement_date(end),
                due_date=due_date,
                assessed=sum((d.assessed for d, _ in members), ZERO),
                outstanding=outstanding,
                overdue=outstanding > 0 and as_of > due_date,
                interest=sum((owing for _, owing in members), ZERO),
            )
        )
    total_assessed = sum((d.assessed for d in ordered), ZERO)
    total_paid = sum((c.amount for c in credits), ZERO)
    return Statement(
        account=account,
        as_of=as_of,
        debits=[
            DebitLine(
                transaction_number=d.transaction_number,
                version=d.version,
                kind=d.kind,
                approved_at=d.approved_at,
                interest_from=d.interest_from,
                cancelled=d.cancelled,
                release_date=d.release_date,
                period=period_id(d.period_end),
                due_date=d.due_date,
                assessed=d.assessed,
                paid=d.paid,
                outstanding=d.outstanding,
                interest=owing,
            )
            for d, owing in zip(ordered, interest, strict=True)
        ],
        credits=credits,
        total_assessed=total_assessed,
        total_paid=total_paid,
        unapplied=sum((c.unapplied for c in credits), ZERO),
        balance=total_assessed - total_paid,
        amount_due=sum((d.outstanding for d in ordered), ZERO),
        interest=sum(interest, ZERO),
        periods=due,
        pending=pending_adjustments(store, account),
    )


# --- deciding on one payment ------------------------------------------------------------------


def _two_places(value: Decimal) -> bool:
    return value.is_finite() and value > 0 and value == value.quantize(CENT)


def _known_account(store: PortalStore, account: str, declared: dict[str, list[_Debit]]) -> bool:
    if account in declared:
        return True
    with Session(store.engine) as session:
        row = session.get(_PartyRow, account)
        return row is not None and row.role == "importer"


def payment_errors(store: PortalStore, payment: Payment, declared: dict[str, list[_Debit]]) -> list[PortalError]:
    errors: list[PortalError] = []
    if payment.currency != CBSA_CURRENCY:
        errors.append(
            CURRENCY_NOT_CAD.error("currency", f"Currency {payment.currency} is not accepted: payments are in CAD")
        )
    if not _two_places(payment.amount):
        errors.append(
            AMOUNT_INVALID.error("amount", f"Amount {payment.amount} must be greater than zero with at most 2 decimals")
        )
    if not payment.remittance:
        errors.append(NO_REMITTANCE.error("remittance"))
    for index, item in enumerate(payment.remittance):
        pointer = f"remittance[{index}]"
        if item.amount is not None and not _two_places(item.amount):
            errors.append(
                AMOUNT_INVALID.error(
                    f"{pointer}.amount",
                    f"Remitted amount {item.amount} must be greater than zero with at most 2 decimals",
                )
            )
        if not is_program_account(item.account, "RM") or not bn9_valid(bn9_of(item.account)):
            errors.append(
                ACCOUNT_INVALID.error(f"{pointer}.account", f"{item.account} is not a valid BN15 RM program account")
            )
            continue
        if not _known_account(store, item.account, declared):
            errors.append(
                ACCOUNT_UNKNOWN.error(f"{pointer}.account", f"Account {item.account} is not registered with the portal")
            )
            continue
        transactions = _transactions(declared.get(item.account, []))
        for position, number in enumerate(item.transaction_numbers):
            debit = transactions.get(number)
            if debit is None or debit.cancelled:
                why = "is cancelled" if debit is not None else "is not an accepted declaration of the account"
                errors.append(
                    TRANSACTION_NOT_ON_ACCOUNT.error(
                        f"{pointer}.transaction_numbers[{position}]", f"Transaction {number} {why} {item.account}"
                    )
                )
    total = sum(payment.item_amounts(), Decimal("0"))
    itemised = len(payment.remittance) > 1 or (bool(payment.remittance) and payment.remittance[0].amount is not None)
    if itemised and (any(item.amount is None for item in payment.remittance) or total != payment.amount):
        errors.append(
            AMOUNTS_DO_NOT_ADD_UP.error(
                "remittance", f"Remitted amounts add up to {total}, not to the payment amount {payment.amount}"
            )
        )
    return errors


def payment_digest(payment: Payment) -> str:
    canonical = json.dumps(payment.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _record(
    store: PortalStore, key: str, digest: str, status_code: int, outcome: PaymentOutcome, payment: Payment | None
) -> PaymentOutcome:
    """Store the answer under the key and, for an accepted payment, the payment and its items,
    in one transaction; returns the outcome with the payment id. ``StoreConflict`` on a lost race."""
    received_at = outcome.received_at or dt.datetime.now(dt.UTC)
    try:
        with Session(store.engine) as session, session.begin():
            if payment is not None:
                row = _PaymentRow(
                    end_to_end_reference=payment.end_to_end_reference,
                    message_id=payment.message_id,
                    channel=payment.channel.value,
                    amount=str(payment.amount),
                    currency=payment.currency,
                    value_date=payment.value_date,
                    body=payment.model_dump(mode="json"),
                    received_at=received_at,
                )
                session.add(row)
                session.flush()
                for position, (item, amount) in enumerate(zip(payment.remittance, payment.item_amounts(), strict=True)):
                    session.add(
                        _PaymentItemRow(
                            payment_id=row.id,
                            position=position,
                            account=item.account,
                            amount=str(amount),
                            transaction_numbers=list(item.transaction_numbers),
                            statement=item.statement,
                        )
                    )
                outcome = outcome.model_copy(update={"payment_id": row.id})
            session.add(
                _IdempotencyRow(
                    key=key,
                    request_sha256=digest,
                    status_code=status_code,
                    response_body=outcome.model_dump_json(),
                    created_at=received_at,
                )
            )
    except IntegrityError as error:
        raise StoreConflict(str(error.orig)) from error
    return outcome


def submit_payment(store: PortalStore, payment: Payment, key: str, calendar: PortalCalendar) -> Response:
    digest = payment_digest(payment)
    for _ in range(3):
        record = store.idempotency_record(key)
        if record is not None:
            if record.request_sha256 != digest:
                return _errors(409, [IDEMPOTENCY_KEY_REUSED.error()])
            return Response(
                record.response_body,
                status_code=record.status_code,
                media_type="application/json",
                headers={"Idempotent-Replayed": "true"},
            )
        received_at = dt.datetime.now(dt.UTC)
        declared = account_declarations(store, calendar)
        errors = payment_errors(store, payment, declared)
        if _payment_by_reference(store, payment.end_to_end_reference) is not None:
            errors.append(
                DUPLICATE_PAYMENT.error(
                    "end_to_end_reference", f"End-to-end reference {payment.end_to_end_reference} was already received"
                )
            )
        status = PaymentStatus.REJECTED if errors else PaymentStatus.APPLIED
        outcome = PaymentOutcome(
            end_to_end_reference=payment.end_to_end_reference, status=status, received_at=received_at, errors=errors
        )
        status_code = 201 if status.accepted else 422
        if status.accepted:
            try:
                outcome = _record(store, key, digest, status_code, outcome, payment)
            except StoreConflict:
                continue
            outcome = outcome.model_copy(
                update={"applications": _applications(store, outcome.payment_id, payment, calendar)}
            )
            _update_answer(store, key, outcome)
        else:
            try:
                _record(store, key, digest, status_code, outcome, None)
            except StoreConflict:
                continue
        return Response(outcome.model_dump_json(), status_code=status_code, media_type="application/json")
    return _errors(503, [TRY_AGAIN.error()])


def _update_answer(store: PortalStore, key: str, outcome: PaymentOutcome) -> None:
    """The stored answer with the applications (computed once the payment is in the ledger)."""
    with Session(store.engine) as session, session.begin():
        row = session.get(_IdempotencyRow, key)
        if row is not None:
            row.response_body = outcome.model_dump_json()


def _applications(
    store: PortalStore, payment_id: int | None, payment: Payment, calendar: PortalCalendar
) -> list[Application]:
    """How the payment was applied, per account, as the statement replays it."""
    found: list[Application] = []
    declared = account_declarations(store, calendar)
    for account in payment.accounts:
        debits = declared.get(account, [])
        applied = apply_payments(debits, _stored_payments(store, account), account)
        found.extend(applied.get(payment_id or -1, []))
    return found


def _payment_by_reference(store: PortalStore, reference: str) -> _PaymentRow | None:
    with Session(store.engine) as session:
        return session.scalars(select(_PaymentRow).where(_PaymentRow.end_to_end_reference == reference)).one_or_none()


def _errors(status_code: int, errors: list[PortalError]) -> Response:
    return Response(
        json.dumps({"errors": [e.model_dump(mode="json") for e in errors]}),
        status_code=status_code,
        media_type="application/json",
    )


# --- routes -----------------------------------------------------------------------------------


def payment_router(store: PortalStore, calendar: PortalCalendar) -> APIRouter:
    """The payment and statement routes (mounted under ``/v1`` by ``portal.app``); billing
    periods, due dates and interest by ``calendar`` (the reference directory's, ``PortalCalendar.load``)."""
    _Base.metadata.create_all(store.engine, tables=_TABLES)
    router = APIRouter()

    @router.post(
        "/payments", status_code=201, responses={201: {"model": PaymentOutcome}, 422: {"model": PaymentOutcome}}
    )
    def post_payment(payment: Payment, key: Annotated[str | None, Header(alias="Idempotency-Key")] = None) -> Response:
        """Apply one payment's remittance items to their accounts; idempotent per Idempotency-Key."""
        if not key or not key.strip() or len(key) > 255:
            return _errors(400, [IDEMPOTENCY_KEY_MISSING.error()])
        return submit_payment(store, payment, key, calendar)

    @router.get("/payments/{end_to_end_reference}", response_model=PaymentOutcome)
    def get_payment(end_to_end_reference: str) -> Any:
        row = _payment_by_reference(store, end_to_end_reference)
        if row is None:
            return _errors(404, [NOT_FOUND.error("end_to_end_reference")])
        payment = Payment.model_validate(row.body)
        return PaymentOutcome(
            end_to_end_reference=end_to_end_reference,
            status=PaymentStatus.APPLIED,
            payment_id=row.id,
            received_at=_utc(row.received_at),
            applications=_applications(store, row.id, payment, calendar),
        )

    @router.get("/accounts/{account}/statement", response_model=Statement)
    def get_statement(
        account: str, as_of: Annotated[dt.date | None, Query(description="Default: today (UTC)")] = None
    ) -> Any:
        """The account's declarations, payments, balance and due dates."""
        declared = account_declarations(store, calendar)
        if not is_program_account(account) or not _known_account(store, account, declared):
            return _errors(404, [NOT_FOUND.error("account", f"Account {account} is not known to the portal")])
        return statement(store, account, as_of or dt.datetime.now(dt.UTC).date(), calendar)

    return router


# --- the gateway's client -----------------------------------------------------------------------


class PaymentClient:
    """Payments over a ``PortalClient`` (its retries, backoff and idempotency discipline)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def submit_payment(self, payment: Payment, idempotency_key: str) -> PaymentOutcome:
        from portal.client import PortalRequestError

        response: httpx.Response = self._client._send(
            "POST", "/v1/payments", json=payment.model_dump(mode="json"), headers={"Idempotency-Key": idempotency_key}
        )
        body = _json(response)
        if response.is_success or (response.status_code == 422 and isinstance(body, dict) and "status" in body):
            return PaymentOutcome.model_validate(body)
        if response.status_code == 422 and isinstance(body, dict):  # the request did not match the Payment schema
            errors = [PortalError.model_validate(e) for e in body.get("errors", [])]
            return PaymentOutcome(
                end_to_end_reference=payment.end_to_end_reference, status=PaymentStatus.REJECTED, errors=errors
            )
        raise PortalRequestError(response.status_code, body)

    def statement(self, account: str, as_of: dt.date | None = None) -> Statement:
        from portal.client import PortalRequestError

        params = {"as_of": as_of.isoformat()} if as_of else {}
        response = self._client._send("GET", f"/v1/accounts/{account}/statement", params=params)
        if response.is_success:
            return Statement.model_validate_json(response.content)
        raise PortalRequestError(response.status_code, _json(response))


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


__all__ = [
    "PaymentClient",
    "apply_payments",
    "payment_router",
    "statement",
    "submit_payment",
]
