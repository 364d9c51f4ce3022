"""The commercial accounting declaration (CAD) and its parts.

Money is ``Decimal`` and dates are ``date`` throughout. One ``Declaration`` is
one version of one CAD: the 14-digit transaction number stays, the version
grows with every change (correction or adjustment).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from domain.identifiers import ProgramAccount, TransactionNumber

CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
UnitCode = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{2,3}$")]
HsCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{10}$")]
OfficeCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")]
TariffTreatment = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,3}$")]
TypeCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{1,2}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=350, strip_whitespace=True)]
Money = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)]
Quantity = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=6)]
Rate = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=6)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeclarationFunction(StrEnum):
    """What the message does to the CAD (UN/EDIFACT 1225 / WCO FunctionCode)."""

    ORIGINAL = "9"
    CHANGE = "4"
    CANCELLATION = "1"


class Party(_Model):
    """An importer or a declarant: its program account and name."""

    account: ProgramAccount
    name: Text | None = None


class Vendor(_Model):
    name: Text
    street: Text | None = None
    city: Text | None = None
    postcode: Annotated[str, StringConstraints(max_length=17)] | None = None
    country: CountryCode | None = None


class Invoice(_Model):
    number: Annotated[str, StringConstraints(min_length=1, max_length=35)]
    issue_date: dt.date | None = None
    total_amount: Money | None = Field(default=None, description="In the invoice currency.")


class AmendmentKind(StrEnum):
    """A change before the payment due date is a correction (auto-approved, no
    interest); after it, an adjustment (needs CBSA approval, may carry interest)."""

    CORRECTION = "correction"
    ADJUSTMENT = "adjustment"


class Amendment(_Model):
    """Why a change was made (D17-2-1 reason code, e.g. ``R2-74-1-C11``) and
    what the filer declares it to be."""

    reason_code: Annotated[str, StringConstraints(min_length=1, max_length=35)]
    explanation: Text | None = None
    kind: AmendmentKind = AmendmentKind.CORRECTION


class DeclarationLine(_Model):
    """One CAD line: one commercial-invoice line. Declared amounts are optional:
    CARM assesses duties and taxes itself; when the filer declares them they are
    checked against the assessment."""

    line_number: Annotated[int, Field(ge=1, le=99999)]
    description: Text
    hs_code: HsCode
    tariff_treatment: TariffTreatment
    country_of_origin: CountryCode
    quantity: Quantity
    unit: UnitCode
    invoice_amount: Money | None = Field(default=None, description="In the invoice currency.")
    value_for_duty: Money = Field(description="In CAD.")
    duty_rate: Rate | None = Field(default=None, description="Percent.")
    customs_duty: Money | None = None
    excise_tax: Money | None = None
    value_for_tax: Money | None = None
    gst: Money | None = None


class Declaration(_Model):
    transaction_number: TransactionNumber
    version: Annotated[int, Field(ge=1, le=99999)]
    function: DeclarationFunction
    type_code: TypeCode
    importer: Party
    declarant: Party
    office_of_release: OfficeCode
    release_date: dt.date
    currency: CurrencyCode
    exchange_rate: Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=6)] = Field(
        description="CAD per one unit of the invoice currency."
    )
    invoice: Invoice
    vendor: Vendor
    filer_reference: Annotated[str, StringConstraints(max_length=35)] | None = None
    cargo_control_number: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9-]{5,25}$")] | None = None
    amendment: Amendment | None = None
    lines: Annotated[list[DeclarationLine], Field(min_length=1, max_length=9999)]

    @property
    def reference(self) -> str:
        """The 19-digit CARM reference: transaction number + 5-digit version."""
        return f"{self.transaction_number}{self.version:05d}"
