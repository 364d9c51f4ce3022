"""What several rules need to know about one declaration, worked out once per check.

A dozen amount and tariff rules each walked the lines, looked up each line's tariff row and
treatment and assessed the line again (``duties.assessment.line_amounts``): the same work ten
times per line. ``check_declaration`` now opens a ``shared_facts`` scope for the declaration
it checks; inside it, ``facts(d, ctx)`` returns the one ``DeclarationFacts`` of that
declaration and context, computed in one pass over the lines and shared by every rule.
Outside a scope (a rule called on its own, as tests do) ``facts`` gives a fresh object: the
same answers, computed for that call.

The scope lives in a ``ContextVar``, so concurrent checks (threads, tasks) never see each
other's facts.
"""

from __future__ import annotations

import datetime as dt
from contextvars import ContextVar
from dataclasses import dataclass

from domain import Declaration, DeclarationLine
from duties.assessment import LineAmounts, line_amounts
from duties.tariff import TariffRow
from validators.reference_data import TreatmentInfo
from validators.rules.base import RuleContext


@dataclass(frozen=True, slots=True)
class LineFacts:
    """One line with its reference data: ``row`` (the tariff row in force on the release date,
    None when there is none), ``treatment`` (None for an unknown code) and ``assessed`` (the
    gateway's assessment, when both are known)."""

    index: int
    line: DeclarationLine
    row: TariffRow | None
    treatment: TreatmentInfo | None
    assessed: LineAmounts | None


class DeclarationFacts:
    """The lines of one declaration, each resolved against the reference data and assessed once.

    Worked out in one pass when the check starts (every applicable rule reads them, so nothing
    is left to compute on first use): the reference data and the filing date read once, each
    line's tariff row, treatment and assessment, and the lines the gateway can assess."""

    __slots__ = ("assessed", "context", "declaration", "filing_date", "line_facts", "lines", "ref")

    def __init__(self, declaration: Declaration, context: RuleContext) -> None:
        self.declaration = declaration
        self.context = context
        self.ref = ref = context.ref
        self.filing_date: dt.date = context.filing_date  # without a fixed date it asks the clock
        self.lines: list[DeclarationLine] = declaration.lines
        tariff_row, treatment_of, charges, released = (
            ref.tariff.row,
            ref.treatment,
            ref.charges,
            declaration.release_date,
        )
        self.line_facts: list[LineFacts] = []
        self.assessed: list[tuple[int, DeclarationLine, TariffRow, LineAmounts]] = []
        """Lines the gateway can assess (known treatment, HS row in force), with the assessment."""
        for index, line in enumerate(self.lines):
            row = tariff_row(line.hs_code, line.tariff_treatment, released)
            treatment = treatment_of(line.tariff_treatment)
            assessed = None
            if row is not None and treatment is not None:
                assessed = line_amounts(line, row, charges, released)
                self.assessed.append((index, line, row, assessed))
            self.line_facts.append(LineFacts(index, line, row, treatment, assessed))


_CURRENT: ContextVar[DeclarationFacts | None] = ContextVar("declaration_facts", default=None)


def facts(declaration: Declaration, context: RuleContext) -> DeclarationFacts:
    """The shared facts of the declaration being checked, or fresh ones outside a check."""
    current = _CURRENT.get()
    if current is not None and current.declaration is declaration and current.context is context:
        return current
    return DeclarationFacts(declaration, context)


class shared_facts:
    """Within the block, every rule's ``facts(declaration, context)`` is one object (a class, not a
    ``contextmanager`` generator: it is entered once per declaration checked)."""

    __slots__ = ("_shared", "_token")

    def __init__(self, declaration: Declaration, context: RuleContext) -> None:
        self._shared = DeclarationFacts(declaration, context)

    def __enter__(self) -> DeclarationFacts:
        self._token = _CURRENT.set(self._shared)
        return self._shared

    def __exit__(self, *_: object) -> None:
        _CURRENT.reset(self._token)
