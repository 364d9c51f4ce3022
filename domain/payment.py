"""Payments and the program account's ledger (carm-brief §4, §9; docs/formats/payments.md).

A ``Payment`` is one credit transfer to the Receiver General: who paid (payer,
payer's account), how much, in which currency, on which value date, under which
end-to-end reference, and what it pays: its ``RemittanceItem``s, each pointing at
a BN15 RM program account and optionally at transaction numbers or at a statement
(billing period). Every channel (ISO 20022 pain.001, UN/EDIFACT PAYMUL and REMADV)
maps to this one model, so the same rules and the same ledger apply.

The model keeps what the file said: account and amount *formats* are checked by
the payment rules (validators/rules/payments.py) and by the portal, so that each
problem gets its own reason code instead of a generic schema error.

The account's ledger (``Statement``): assessed declarations are debits, payments
credits, ``balance`` = debits − credits; what is due is grouped by billing period
(18th of one month to the 17th of the next), each with its statement date (the
25th of the period's last month) and its payment due date (the 10th weekday after
the 17th, SOR/86-1062 s.10.3(3): holidays count). The calendar's numbers are data
(``BillingCalendar``, loaded from ``fixtures/reference/billing_calendar.csv``). Money a payment did not apply to a declaration is ``unapplied`` and
stays visible on the statement.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from domain.outcome import PortalError

Reference = Annotated[str, StringConstraints(min_length=1, max_length=35)]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Amount = Annotated[Decimal, Field(max_digits=18)]
"""At most 18 digits, as every channel's field allows (ISO 20022 totalDigits,
EDIFACT 5004 n..18); the decimal places are the payment rules' (``PAY-AMT``)."""

CBSA_CURRENCY = "CAD"
STATEMENT_DAY = 25


class PaymentChannel(StrEnum):
    PAIN001 = "pain.001"
    PAYMUL = "PAYMUL"
    REMADV = "REMADV"
    API = "api"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RemittanceItem(_Model):
    """What (part of) a payment pays: a program account, optionally narrowed to
    transaction numbers or to the statement of one billing period.

    ``amount`` None: the whole payment (only when the payment has a single item)."""

    account: Annotated[str, StringConstraints(min_length=1, max_length=35)] = Field(
        description="BN15 RM program account, #########RM####"
    )
    transaction_numbers: list[Annotated[str, StringConstraints(min_length=1, max_length=35)]] = Field(
        default_factory=list
    )
    statement: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}$")] | None = Field(
        default=None, description="Billing period by the month of its end (the 17th): 2025-02 = 2025-01-18..2025-02-17"
    )
    amount: Amount | None = None


class Payment(_Model):
    message_id: Reference = Field(description="pain.001 GrpHdr/MsgId, PAYMUL/REMADV BGM 1004")
    end_to_end_reference: Reference
    payer_name: Annotated[str, StringConstraints(max_length=140)] | None = None
    payer_account: Annotated[str, StringConstraints(max_length=34)] | None = None
    amount: Amount
    currency: CurrencyCode
    value_date: dt.date
    channel: PaymentChannel = PaymentChannel.API
    remittance: list[RemittanceItem] = Field(default_factory=list, max_length=999)
    unstructured: Annotated[str, StringConstraints(max_length=1400)] | None = None

    def item_amounts(self) -> list[Decimal]:
        """Each item's amount; an item without one takes the whole payment."""
        return [item.amount if item.amount is not None else self.amount for item in self.remittance]

    @property
    def accounts(self) -> list[str]:
        return list(dict.fromkeys(item.account for item in self.remittance))


# --- what the portal answers ------------------------------------------------------------------


class PaymentStatus(StrEnum):
    APPLIED = "40"
    REJECTED = "41"

    @property
    def accepted(self) -> bool:
        return self is PaymentStatus.APPLIED


class Application(_Model):
    """Money of one payment applied to one declaration, or left unapplied on the account."""

    account: str
    transaction_number: str | None = Field(default=None, description="None: unapplied credit on the account")
    amount: Decimal


class PaymentOutcome(_Model):
    end_to_end_reference: str
    status: PaymentStatus
    payment_id: int | None = None
    received_at: dt.datetime | None = None
    applications: list[Application] = Field(default_factory=list)
    errors: list[PortalError] = Field(default_factory=list)

    @property
    def unapplied(self) -> Decimal:
        return sum((a.amount for a in self.applications if a.transaction_number is None), Decimal("0.00"))


# --- billing periods and due dates ------------------------------------------------------------


@dataclass(frozen=True)
class BillingCalendar:
    """Billing periods and their payment due date.

    A period ends on ``period_end_day`` of each month and starts the day after the
    previous one ended. Its duties are due on the ``due_days``-th day after the end,
    counting weekdays (Monday to Friday, holidays included: SOR/86-1062 s.10.3(3) as
    amended by SOR/2024-41, "by the 10th weekday after the end of that period") or,
    with ``holidays_count`` off, business days (weekdays that are not holidays). A due
    date that falls on a holiday moves to the next business day when ``holiday_moves_due``
    (Interpretation Act s.26: a time limit expiring on a holiday extends to the next day
    that is not one; docs/decisions.md).
    """

    period_end_day: int = 17
    due_days: int = 10
    holidays_count: bool = True
    holiday_moves_due: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.period_end_day <= 28:
            raise ValueError(f"period end day {self.period_end_day} must be 1 to 28 (every month has it)")
        if self.due_days < 1:
            raise ValueError(f"due days {self.due_days} must be at least 1")

    def period(self, day: dt.date) -> tuple[dt.date, dt.date]:
        """The billing period holding ``day``: (first day, last day)."""
        if day.day <= self.period_end_day:
            end = day.replace(day=self.period_end_day)
        else:
            year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
            end = dt.date(year, month, self.period_end_day)
        year, month = (end.year - 1, 12) if end.month == 1 else (end.year, end.month - 1)
        return dt.date(year, month, self.period_end_day) + dt.timedelta(days=1), end

    def due_date(self, period_end: dt.date, holidays: Collection[dt.date] = frozenset()) -> dt.date:
        """The payment due date of the period ending ``period_end``; ``holidays`` only
        matter when they do not count."""
        day, left = period_end, self.due_days
        while left:
            day += dt.timedelta(days=1)
            if day.weekday() < 5 and (self.holidays_count or day not in holidays):
                left -= 1
        while self.holiday_moves_due and (day.weekday() >= 5 or day in holidays):
            day += dt.timedelta(days=1)
        return day


DEFAULT_CALENDAR = BillingCalendar()

SPECIFIED_RATE_POINTS = Decimal("6")
DAYS_A_YEAR = Decimal("365")


def late_interest(
    amount: Decimal, due: dt.date, paid_on: dt.date, prescribed_rate: Callable[[dt.date], Decimal]
) -> Decimal:
    """Interest on ``amount`` payable on ``due`` and paid on ``paid_on``: at the specified rate
    (the day's prescribed rate + 6 points, % a year; D11-6-5 para. 2) for every day from the day
    after ``due`` to ``paid_on`` inclusive (Customs Act s.33.4(1)), compounded daily at a 365th
    of the annual rate (docs/decisions.md). Rounded to the cent, half up."""
    balance, day = amount, due + dt.timedelta(days=1)
    while day <= paid_on:
        balance += balance * (prescribed_rate(day) + SPECIFIED_RATE_POINTS) / 100 / DAYS_A_YEAR
        day += dt.timedelta(days=1)
    return (balance - amount).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def billing_period(day: dt.date, calendar: BillingCalendar = DEFAULT_CALENDAR) -> tuple[dt.date, dt.date]:
    """The billing period holding ``day``: by default from the 18th of one month to the 17th of the next."""
    return calendar.period(day)


def period_id(period_end: dt.date) -> str:
    """``2025-02`` for the period ending 2025-02-17."""
    return f"{period_end.year:04d}-{period_end.month:02d}"


def statement_date(period_end: dt.date) -> dt.date:
    """The statement of account is issued on the 25th of the period's last month."""
    return period_end.replace(day=STATEMENT_DAY)


def payment_due_date(
    period_end: dt.date, calendar: BillingCalendar = DEFAULT_CALENDAR, holidays: Collection[dt.date] = frozenset()
) -> dt.date:
    """By default the 10th weekday after the 17th that ends the billing period."""
    return calendar.due_date(period_end, holidays)


# --- the statement ----------------------------------------------------------------------------


class DebitKind(StrEnum):
    DECLARATION = "declaration"
    ADJUSTMENT = "adjustment"


class DebitLine(_Model):
    """One line on the account: a declaration (its latest version accepted as original or
    correction) or an approved adjustment (its assessed total less the version's before it,
    on the billing period of its approval; a negative amount is a credit)."""

    transaction_number: str
    version: int
    kind: DebitKind = DebitKind.DECLARATION
    approved_at: dt.datetime | None = Field(default=None, description="An adjustment: when an operator approved it")
    interest_from: dt.date | None = Field(
        default=None,
        description="Interest runs from the day after this date: the due date, or for an adjustment the original's",
    )
    cancelled: bool = False
    release_date: dt.date
    period: str
    due_date: dt.date
    assessed: Decimal
    paid: Decimal
    outstanding: Decimal
    interest: Decimal = Field(
        default=Decimal("0.00"),
        description="At the specified rate on what was paid after the due date (to its payment) and on what is still outstanding (to as_of)",
    )


class PendingAdjustment(_Model):
    """An adjustment waiting for an operator's decision: listed, not counted in the balance."""

    transaction_number: str
    version: int
    received_at: dt.datetime
    assessed: Decimal = Field(description="The adjustment's assessed total")
    difference: Decimal = Field(description="Its assessed total less the version's before it")


class CreditLine(_Model):
    """The part of one payment's remittance that named this account."""

    payment_id: int
    end_to_end_reference: str
    message_id: str
    channel: PaymentChannel
    value_date: dt.date
    received_at: dt.datetime
    amount: Decimal
    applied: Decimal
    unapplied: Decimal
    applications: list[Application] = Field(default_factory=list)


class DuePeriod(_Model):
    period: str
    period_start: dt.date
    period_end: dt.date
    statement_date: dt.date
    due_date: dt.date
    assessed: Decimal
    outstanding: Decimal
    overdue: bool
    interest: Decimal = Decimal("0.00")


class Statement(_Model):
    account: str
    as_of: dt.date
    debits: list[DebitLine]
    credits: list[CreditLine]
    total_assessed: Decimal
    total_paid: Decimal
    unapplied: Decimal
    balance: Decimal = Field(description="Debits − credits: positive owed, negative a credit")
    amount_due: Decimal = Field(description="Outstanding on declarations (before unapplied credit)")
    interest: Decimal = Field(default=Decimal("0.00"), description="Interest on late amounts, as of as_of")
    periods: list[DuePeriod]
    pending: list[PendingAdjustment] = Field(
        default_factory=list, description="Adjustments waiting for approval: not in any total"
    )
