"""The portal's assessment of a declaration: every line classified against the tariff
(P201 unknown HS code, P202 unknown treatment), then assessed with the formulas of
``duties.assessment`` and the charge tables of the reference data (excise codes, surtax
orders, GST status codes); totals are sums of the rounded line amounts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from domain.declaration import Declaration
from domain.outcome import LINE_AMOUNTS, AssessedLine, PortalError
from duties.assessment import assess_line
from duties.tariff import Tariff
from portal import codes
from validators.reference_data import ReferenceData, default_reference

_ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Assessment:
    """Assessed lines, or the classification errors that prevented assessing them."""

    lines: list[AssessedLine] = field(default_factory=list)
    errors: list[PortalError] = field(default_factory=list)

    def total(self, name: str) -> Decimal:
        """``total_duty``, ``total_gst`` …: the sum of the lines' amount (``domain.outcome.LINE_AMOUNTS``)."""
        return sum((getattr(line, LINE_AMOUNTS[name]) for line in self.lines), _ZERO)

    def totals(self) -> dict[str, Decimal]:
        """Every total of a ``DeclarationOutcome``."""
        return {name: self.total(name) for name in LINE_AMOUNTS}

    @property
    def total_duty(self) -> Decimal:
        return self.total("total_duty")

    @property
    def total_excise(self) -> Decimal:
        return self.total("total_excise")

    @property
    def total_gst(self) -> Decimal:
        return self.total("total_gst")


def assess(declaration: Declaration, tariff: Tariff, reference: ReferenceData | None = None) -> Assessment:
    """Assess every line at the rates in force on the release date.

    Errors point at ``lines[i].tariff_treatment`` (code not in the treatment
    list, ``tariff_treatments.csv`` of the reference data) and ``lines[i].hs_code``
    (HS code without a row in force); all lines are checked so that one rejection
    reports every problem. ``reference``: the treatment list and charge tables (the
    portal's ``reference_dir``); None, the shipped ones.
    """
    as_of = declaration.release_date
    reference = reference if reference is not None else default_reference()
    charges = reference.charges
    assessed: list[AssessedLine] = []
    errors: list[PortalError] = []
    for index, line in enumerate(declaration.lines):
        treatment_known = reference.treatment(line.tariff_treatment) is not None
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
            assessed.append(assess_line(line, row, charges, as_of))
    return Assessment(lines=assessed, errors=errors) if not errors else Assessment(errors=errors)
