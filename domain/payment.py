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
25th of the period's last month) and its payment due date (10 business days after
the 17th). Money a payment did not apply to a declaration is ``unapplied`` and
stays visible on the statement.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
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
BILLING_PERIOD_END_DAY = 17
STATEMENT_DAY = 25
PAYMENT_BUSINESS_DAYS = 10


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


def billing_period(day: dt.date) -> tuple[dt.date, dt.date]:
    """The billing period holding ``day``: from the 18th of one month to the 17th of the next."""
    if day.day <= BILLING_PERIOD_END_DAY:
        end = day.replace(day=BILLING_PERIOD_END_DAY)
    else:
        year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
        end = dt.date(year, month, BILLING_PERIOD_END_DAY)
    year, month = (end.year - 1, 12) if end.month == 1 else (end.year, end.month - 1)
    return dt.date(year, month, BILLING_PERIOD_END_DAY + 1), end


def period_id(period_end: dt.date) -> str:
    """``2025-02`` for the period ending 2025-02-17."""
    return f"{period_end.year:04d}-{period_end.month:02d}"


def statement_date(period_end: dt.date) -> dt.date:
    """The statement of account is issued on the 25th of the period's last month."""
    return period_end.replace(day=STATEMENT_DAY)


def payment_due_date(period_end: dt.date, is_business_day: Callable[[dt.date], bool]) -> dt.date:
    """10 business days after the 17th that ends the billing period."""
    day, left = period_end, PAYMENT_BUSINESS_DAYS
    while left:
        day += dt.timedelta(days=1)
        if is_business_day(day):
            left -= 1
    return day


# --- the statement ----------------------------------------------------------------------------


class DebitLine(_Model):
    """One declaration on the account: its latest accepted version's assessment."""

    transaction_number: str
    version: int
    cancelled: bool = False
    release_date: dt.date
    period: str
    due_date: dt.date
    assessed: Decimal
    paid: Decimal
    outstanding: Decimal


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
    periods: list[DuePeriod]
