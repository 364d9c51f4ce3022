"""The commercial accounting declaration (CAD) and its parts.

Money is ``Decimal`` and dates are ``date`` throughout. One ``Declaration`` is
one version of one CAD: the 14-digit transaction number stays, the version
grows with every change (correction or adjustment). A CAD carries one or more
invoices, each with its vendor, currency, exchange rate, date of direct
shipment and lines; line numbers run 1, 2, 3 … across the whole declaration
(``Declaration.lines`` gives every line in that order, and the business rules
point at a line by its place there: ``lines[2].hs_code``).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from domain.decimals import Bounded
from domain.identifiers import ProgramAccount, TransactionNumber

CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
UnitCode = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{2,3}$")]
HsCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{10}$")]
OfficeCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")]
TariffTreatment = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,3}$")]
TypeCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{1,2}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=350, strip_whitespace=True)]
Money = Annotated[Decimal, Bounded(18, 2, ge=0)]
Quantity = Annotated[Decimal, Bounded(18, 6, gt=0)]
Rate = Annotated[Decimal, Bounded(18, 6, ge=0)]
ChargeCode = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,6}$")]
GstStatusCode = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,3}$")]


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


class ExciseCharge(_Model):
    """One excise duty or excise tax on a line, by its CARM code (CN 24-35):
    the code tells which excise it is; the amount (CAD) is the one declared."""

    code: ChargeCode
    amount: Money | None = None


class DeclarationLine(_Model):
    """One CAD line: one commercial-invoice line. Declared amounts are optional:
    CARM assesses duties and taxes itself; when the filer declares them they are
    checked against the assessment. Every amount but ``invoice_amount`` is in CAD."""

    line_number: Annotated[int, Field(ge=1, le=99999)]
    description: Text
    hs_code: HsCode
    tariff_treatment: TariffTreatment
    country_of_origin: CountryCode
    quantity: Quantity
    unit: UnitCode
    invoice_amount: Money | None = Field(default=None, description="In the invoice currency.")
    value_additions: Money | None = Field(
        default=None,
        description="Added to the price paid: commissions, assists, royalties… (Customs Act s.48, D13-4-3).",
    )
    value_deductions: Money | None = Field(
        default=None,
        description="Taken off the price paid: freight after direct shipment… (Customs Act s.48, D13-4-3).",
    )
    value_for_duty: Money = Field(description="In CAD.")
    duty_rate: Rate | None = Field(default=None, description="Ad valorem customs duty, percent.")
    specific_duty_rate: Rate | None = Field(default=None, description="Specific customs duty, CAD per unit.")
    specific_duty_unit: UnitCode | None = Field(default=None, description="The unit of the specific rate.")
    customs_duty: Money | None = None
    excise_tax: Money | None = None
    excise: Annotated[list[ExciseCharge], Field(max_length=9)] = Field(
        default_factory=list, description="Excise duties and taxes by code."
    )
    anti_dumping_duty: Money | None = Field(default=None, description="SIMA anti-dumping duty.")
    countervailing_duty: Money | None = Field(default=None, description="SIMA countervailing duty.")
    surtax_indicator: bool | None = Field(
        default=None, description="Whether a surtax order applies to the goods (CSCB Bulletin 5396)."
    )
    surtax_code: ChargeCode | None = None
    surtax: Money | None = None
    safeguard_code: ChargeCode | None = None
    safeguard: Money | None = None
    gst_status_code: GstStatusCode | None = Field(default=None, description="D17-1-10 Appendix H GST status code.")
    value_for_tax: Money | None = None
    gst: Money | None = None


class Invoice(_Model):
    """One commercial invoice of the CAD: its vendor, its currency and rate,
    the date of direct shipment of its goods, and its lines."""

    number: Annotated[str, StringConstraints(min_length=1, max_length=35)]
    issue_date: dt.date | None = None
    total_amount: Money | None = Field(default=None, description="In the invoice currency.")
    vendor: Vendor
    currency: CurrencyCode
    exchange_rate: Annotated[Decimal, Bounded(18, 6, gt=0)] = Field(
        description="CAD per one unit of the invoice currency."
    )
    direct_shipment_date: dt.date | None = Field(
        default=None,
        description="The date of direct shipment to Canada: the exchange rate is the one of that date (D13-2-3).",
    )
    lines: Annotated[list[DeclarationLine], Field(min_length=1, max_length=9999)]


LEGACY_INVOICE_FIELDS = ("currency", "exchange_rate", "invoice", "vendor", "lines")
"""The fields of the first model (one invoice, at the declaration's level) that ``invoices[0]`` now holds."""


class Declaration(_Model):
    transaction_number: TransactionNumber
    version: Annotated[int, Field(ge=1, le=99999)]
    function: DeclarationFunction
    type_code: TypeCode
    importer: Party
    declarant: Party
    office_of_release: OfficeCode
    release_date: dt.date
    filer_reference: Annotated[str, StringConstraints(max_length=35)] | None = None
    cargo_control_number: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9-]{5,25}$")] | None = None
    amendment: Amendment | None = None
    invoices: Annotated[list[Invoice], Field(min_length=1, max_length=999)]

    @model_validator(mode="before")
    @classmethod
    def _one_invoice_shape(cls, data: object) -> object:
        """The first model's shape (``currency``, ``exchange_rate``, ``invoice``,
        ``vendor`` and ``lines`` on the declaration) is read as one invoice, so
        that what earlier releases stored (portal rows, requests) still reads."""
        if not isinstance(data, dict) or "invoices" in data or not any(k in data for k in LEGACY_INVOICE_FIELDS):
            return data
        data = dict(data)
        invoice = data.pop("invoice", None)
        merged = dict(invoice) if isinstance(invoice, dict) else {"number": invoice}
        for name in ("currency", "exchange_rate", "vendor", "lines"):
            if name in data:
                merged[name] = data.pop(name)
        data["invoices"] = [merged]
        return data

    @property
    def lines(self) -> list[DeclarationLine]:
        """Every line, invoice after invoice: line ``lines[i]`` is numbered i + 1 in a well-formed CAD."""
        return [line for invoice in self.invoices for line in invoice.lines]

    def line_invoices(self) -> list[tuple[Invoice, DeclarationLine]]:
        """Every line with its invoice, in ``lines`` order."""
        return [(invoice, line) for invoice in self.invoices for line in invoice.lines]

    @property
    def reference(self) -> str:
        """The 19-digit CARM reference: transaction number + 5-digit version."""
        return f"{self.transaction_number}{self.version:05d}"


_FIRST_LINE_FIELDS = (
    "line_number",
    "description",
    "hs_code",
    "tariff_treatment",
    "country_of_origin",
    "quantity",
    "unit",
    "invoice_amount",
    "value_for_duty",
    "duty_rate",
    "customs_duty",
    "excise_tax",
    "value_for_tax",
    "gst",
)


def first_shape(declaration: Declaration) -> dict[str, object] | None:
    """The declaration as the first model dumped it (``model_dump(mode="json")``,
    fields in that model's order), or None when that model could not hold it
    (several invoices, a date of direct shipment, a field it lacked).

    Digests over a declaration (the gateway's idempotency key, the portal's
    request digest) are taken over this shape whenever it exists, so that a
    declaration posted by an earlier release keeps its key and its digest."""
    if len(declaration.invoices) != 1:
        return None
    [invoice] = declaration.invoices
    if invoice.direct_shipment_date is not None:
        return None
    dumped = declaration.model_dump(mode="json")
    [invoice_data] = dumped.pop("invoices")
    lines = invoice_data.pop("lines")
    first_lines = []
    for line in lines:
        if any(value not in (None, []) for name, value in line.items() if name not in _FIRST_LINE_FIELDS):
            return None
        first_lines.append({name: line[name] for name in _FIRST_LINE_FIELDS})
    header = {name: dumped[name] for name in ("transaction_number", "version", "function", "type_code")}
    header |= {name: dumped[name] for name in ("importer", "declarant", "office_of_release", "release_date")}
    header["currency"] = invoice_data["currency"]
    header["exchange_rate"] = invoice_data["exchange_rate"]
    header["invoice"] = {name: invoice_data[name] for name in ("number", "issue_date", "total_amount")}
    header["vendor"] = invoice_data["vendor"]
    header |= {name: dumped[name] for name in ("filer_reference", "cargo_control_number", "amendment")}
    header["lines"] = first_lines
    return header


def canonical_json(declaration: Declaration) -> str:
    """The declaration as compact JSON for digests: the first model's shape
    when it holds the declaration (``first_shape``), this model's otherwise."""
    shape = first_shape(declaration)
    if shape is None:
        return declaration.model_dump_json()
    return json.dumps(shape, separators=(",", ":"), ensure_ascii=False)
