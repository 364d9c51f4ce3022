"""Duty and tax assessment, the way CARM computes it itself (carm-brief §1, §7).

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

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from domain.declaration import Declaration, DeclarationLine
from domain.outcome import AssessedLine, PortalError
from portal import codes
from portal.tariff import TARIFF_TREATMENTS, Tariff, TariffRow, normalize_treatment

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


@dataclass(frozen=True)
class Assessment:
    """Assessed lines, or the classification errors that prevented assessing them."""

    lines: list[AssessedLine] = field(default_factory=list)
    errors: list[PortalError] = field(default_factory=list)

    @property
    def total_duty(self) -> Decimal:
        return sum((line.customs_duty for line in self.lines), _ZERO)

    @property
    def total_excise(self) -> Decimal:
        return sum((line.excise_tax for line in self.lines), _ZERO)

    @property
    def total_gst(self) -> Decimal:
        return sum((line.gst for line in self.lines), _ZERO)


def assess(declaration: Declaration, tariff: Tariff) -> Assessment:
    """Assess every line at the rates in force on the release date.

    Errors point at ``lines[i].tariff_treatment`` (code not in the treatment
    list) and ``lines[i].hs_code`` (HS code without a row in force); all lines
    are checked so that one rejection reports every problem.
    """
    as_of = declaration.release_date
    assessed: list[AssessedLine] = []
    errors: list[PortalError] = []
    for index, line in enumerate(declaration.lines):
        treatment_known = normalize_treatment(line.tariff_treatment) in TARIFF_TREATMENTS
        if not treatment_known:
            errors.append(
                codes.TARIFF_TREATMENT_UNKNOWN.error(
                    f"lines[{index}].tariff_treatment",
                    f"Tariff treatment {line.tariff_treatment} is not a known treatment code",
                )
            )
        row = tariff.row(line.hs_code, line.tariff_treatment, as_of)
        if row is None:
            errors.append(
                codes.HS_CODE_UNKNOWN.error(
                    f"lines[{index}].hs_code",
                    f"HS code {line.hs_code} is not in the tariff on {as_of.isoformat()}",
                )
            )
        elif treatment_known:
            assessed.append(assess_line(line, row))
    return Assessment(lines=assessed, errors=errors) if not errors else Assessment(errors=errors)
