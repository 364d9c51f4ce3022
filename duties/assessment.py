"""Duty and tax assessment of a line, the way CARM computes it itself (carm-brief §1, §7).

Per line, with the tariff row for (hs_code, treatment) and the charge tables
(``duties.charges``):

- customs duty   = value for duty × ad valorem rate + quantity × specific rate, the
  specific part only when the line's unit is the rate's (otherwise 0: ``AMT-SPU``
  refuses the line)
- excise         = per declared code (CN 24-35): value for duty × its rate, or quantity ×
  its rate per unit; excise duties and excise taxes summed apart. A line that
  declares no excise tax by code bears the tariff row's ``excise_rate`` (the excerpt's
  ad valorem simplification) instead. A code the table lacks, or a per-unit rate in
  another unit, is taken as declared (``AMT-XCD`` refuses the line)
- SIMA anti-dumping and countervailing duty, safeguard: as declared (CBSA sets them
  per exporter and per quota; nothing in the tariff computes them)
- surtax         = value for duty × the rate of the surtax order covering the HS code and
  origin on the release date; with no order in the table, as declared
- value for tax  = value for duty + every duty and tax above (Excise Tax Act s.215(1))
- GST            = value for tax × the rate of the line's GST status code; without a
  code, 5 %, or 0 when the tariff row is GST-exempt

Every amount is rounded to the cent with ROUND_HALF_UP on its line (each excise code
and each part of the customs duty on its own); value for tax adds the rounded amounts;
totals are sums of rounded line amounts.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from domain.declaration import DeclarationLine, ExciseCharge
from domain.outcome import AssessedCharge, AssessedLine
from duties.charges import Charges, ExciseCode, SurtaxOrder
from duties.tariff import TariffRow

GST_RATE = Decimal("5")
_CENT = Decimal("0.01")
_HUNDRED = Decimal("100")
_ZERO = Decimal("0.00")
_NO_CHARGES = Charges()


def to_cents(amount: Decimal) -> Decimal:
    return amount.quantize(_CENT, ROUND_HALF_UP)


def percent_of(amount: Decimal, rate: Decimal) -> Decimal:
    return (amount * rate / _HUNDRED).quantize(_CENT, ROUND_HALF_UP)


def specific_duty(line: DeclarationLine, row: TariffRow) -> Decimal:
    """Quantity × the row's specific rate; 0 without one, or when the line's unit is not the rate's."""
    if row.specific_rate is None or line.unit != row.specific_unit:
        return _ZERO
    return to_cents(line.quantity * row.specific_rate)


def excise_amount(charge: ExciseCharge, code: ExciseCode | None, line: DeclarationLine) -> Decimal:
    """One coded excise: computed from the table, or as declared when it cannot be."""
    if code is None or (code.basis == "unit" and line.unit != code.unit):
        return to_cents(charge.amount or _ZERO)
    if code.basis == "percent":
        return percent_of(to_cents(line.value_for_duty), code.rate)
    return to_cents(line.quantity * code.rate)


def gst_rate(line: DeclarationLine, row: TariffRow, charges: Charges) -> Decimal:
    status = charges.gst_statuses.get(line.gst_status_code) if line.gst_status_code else None
    if status is not None:
        return status.rate
    return _ZERO if row.gst_exempt else GST_RATE


class LineAmounts(NamedTuple):
    """Every amount the assessment computes for one line, and the surtax order it applied.
    ``assess_line`` gives them to the portal as an ``AssessedLine`` (with what identifies the
    line); the business rules compare the declared amounts with them directly, so that a line
    whose amounts are right costs no model."""

    value_for_duty: Decimal
    customs_duty: Decimal
    specific_duty: Decimal
    excise: list[AssessedCharge]
    excise_tax: Decimal
    excise_duty: Decimal
    anti_dumping_duty: Decimal
    countervailing_duty: Decimal
    surtax: Decimal
    surtax_order: SurtaxOrder | None
    safeguard: Decimal
    value_for_tax: Decimal
    gst: Decimal


def line_amounts(
    line: DeclarationLine, row: TariffRow, charges: Charges = _NO_CHARGES, as_of: dt.date | None = None
) -> LineAmounts:
    """``as_of``: the release date, which picks the surtax order in force (None: no order applies)."""
    value_for_duty = to_cents(line.value_for_duty)
    specific = specific_duty(line, row)
    duty = percent_of(value_for_duty, row.duty_rate) + specific
    coded = _coded_excise(line, charges) if line.excise else []
    coded_taxes = [c.amount for c in coded if c.kind == "tax"]
    excise_tax = sum(coded_taxes, _ZERO) if coded_taxes else percent_of(value_for_duty, row.excise_rate)
    excise_duty = sum((c.amount for c in coded if c.kind == "duty"), _ZERO) if coded else _ZERO
    order = None if as_of is None else charges.surtax_order(line.hs_code, line.country_of_origin, as_of)
    surtax = percent_of(value_for_duty, order.rate) if order is not None else _declared(line.surtax)
    anti_dumping = _declared(line.anti_dumping_duty)
    countervailing = _declared(line.countervailing_duty)
    safeguard = _declared(line.safeguard)
    value_for_tax = (
        value_for_duty + duty + excise_duty + excise_tax + anti_dumping + countervailing + surtax + safeguard
    )
    gst = percent_of(value_for_tax, gst_rate(line, row, charges))
    return LineAmounts(
        value_for_duty, duty, specific, coded, excise_tax, excise_duty, anti_dumping, countervailing, surtax, order,
        safeguard, value_for_tax, gst,
    )  # fmt: skip


def _coded_excise(line: DeclarationLine, charges: Charges) -> list[AssessedCharge]:
    """Each excise the line declares by code, assessed."""
    return [
        AssessedCharge(
            code=charge.code,
            kind=known.kind if (known := charges.excise.get(charge.code)) is not None else "tax",
            amount=excise_amount(charge, known, line),
        )
        for charge in line.excise
    ]


def assess_line(
    line: DeclarationLine, row: TariffRow, charges: Charges = _NO_CHARGES, as_of: dt.date | None = None
) -> AssessedLine:
    """The line's ``line_amounts`` as the portal answers them."""
    amounts = line_amounts(line, row, charges, as_of)
    order = amounts.surtax_order
    return AssessedLine(
        line_number=line.line_number,
        value_for_duty=amounts.value_for_duty,
        customs_duty=amounts.customs_duty,
        excise_tax=amounts.excise_tax,
        value_for_tax=amounts.value_for_tax,
        gst=amounts.gst,
        specific_duty=amounts.specific_duty,
        specific_rate=row.specific_rate,
        specific_unit=row.specific_unit if row.specific_rate is not None else None,
        excise_duty=amounts.excise_duty,
        excise=amounts.excise,
        anti_dumping_duty=amounts.anti_dumping_duty,
        countervailing_duty=amounts.countervailing_duty,
        surtax=amounts.surtax,
        surtax_code=order.code if order is not None else line.surtax_code,
        safeguard=amounts.safeguard,
        safeguard_code=line.safeguard_code,
        gst_status_code=line.gst_status_code,
    )


def _declared(amount: Decimal | None) -> Decimal:
    """A declared amount taken as it is, to the cent; 0.00 when not declared (most lines)."""
    return amount.quantize(_CENT, ROUND_HALF_UP) if amount else _ZERO
