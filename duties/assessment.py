"""Duty and tax assessment of a line, the way CARM computes it itself (carm-brief §1, §7).

Per line, with rates in percent from the tariff row for (hs_code, treatment):

- customs duty  = value for duty × duty rate
- excise tax    = value for duty × excise rate (ad valorem simplification: the real
  excise taxes are often specific, per unit or per litre)
- value for tax = value for duty + customs duty + excise tax
- GST           = value for tax × 5 %, or 0 when the tariff row is GST-exempt

Every amount is rounded to the cent with ROUND_HALF_UP on its line; value for
tax uses the rounded duty and excise; totals are sums of rounded line amounts.
Amounts the filer declared are ignored.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from domain.declaration import DeclarationLine
from domain.outcome import AssessedLine
from duties.tariff import TariffRow

GST_RATE = Decimal("5")
_CENT = Decimal("0.01")
_HUNDRED = Decimal("100")
_ZERO = Decimal("0.00")


def to_cents(amount: Decimal) -> Decimal:
    return amount.quantize(_CENT, rounding=ROUND_HALF_UP)


def percent_of(amount: Decimal, rate: Decimal) -> Decimal:
    return to_cents(amount * rate / _HUNDRED)


def assess_line(line: DeclarationLine, row: TariffRow) -> AssessedLine:
    value_for_duty = to_cents(line.value_for_duty)
    duty = percent_of(value_for_duty, row.duty_rate)
    excise = percent_of(value_for_duty, row.excise_rate)
    value_for_tax = value_for_duty + duty + excise
    gst = _ZERO if row.gst_exempt else percent_of(value_for_tax, GST_RATE)
    return AssessedLine(
        line_number=line.line_number,
        value_for_duty=value_for_duty,
        customs_duty=duty,
        excise_tax=excise,
        value_for_tax=value_for_tax,
        gst=gst,
    )
