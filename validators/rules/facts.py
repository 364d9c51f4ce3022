"""What several rules need to know about one declaration, worked out once per check.

A dozen amount and tariff rules each walked the lines, looked up each line's tariff row and
treatment and assessed the line again (``duties.assessment.line_amounts``): the same work ten
times per line. ``check_declaration`` now sets ``SHARED`` to the facts of the declaration it
checks while it runs the rules; meanwhile ``facts(d, ctx)`` returns the one
``DeclarationFacts`` of that declaration and context, computed in one pass over the lines and
shared by every rule; a line's assessment is worked out the first time a rule compares one of
its declared amounts with it (most lines declare none), and shared too. Outside a check (a
rule called on its own, as tests do) ``facts`` gives a fresh object: the same answers,
computed for that call.

``SHARED`` is a ``ContextVar``, so concurrent checks (threads, tasks) never see each other's
facts.
"""

from __future__ import annotations

import datetime as dt
from contextvars import ContextVar

from domain import Declaration, DeclarationLine, Invoice
from duties.assessment import LineAmounts, line_amounts
from duties.tariff import TariffRow
from validators.reference_data import TreatmentInfo
from validators.rules.base import RuleContext

LineFacts = tuple[int, DeclarationLine, TariffRow | None, TreatmentInfo | None]
"""One line with its reference data: (index, line, row, treatment): ``row`` the tariff row in
force on the release date (None when there is none), ``treatment`` None for an unknown code.
A plain tuple: every line of every declaration makes one."""

Assessable = tuple[int, DeclarationLine, TariffRow]
"""A line the gateway can assess (known treatment, HS row in force): (index, line, row)."""

Assessed = tuple[int, DeclarationLine, TariffRow, LineAmounts]
"""An assessable line with the gateway's assessment: (index, line, row, assessed)."""


class DeclarationFacts:
    """The lines of one declaration, each resolved against the reference data once, and
    assessed once when a rule first compares a declared amount with the assessment.

    Worked out in one pass when the check starts (every applicable rule reads them): the
    reference data and the filing date read once, the lines with their invoices, each line's
    tariff row and treatment, and the lines the gateway can assess. A line's assessment (``assessed_declaring``) is worked out only for a line
    that declares an amount it checks (customs duty, excise tax, value for tax, GST): most
    lines declare none, for CARM assesses them itself."""

    __slots__ = (
        "_amounts", "_charges", "assessable", "context", "declaration", "filing_date", "line_facts", "line_invoices",
        "lines", "ref",
    )  # fmt: skip

    def __init__(self, declaration: Declaration, context: RuleContext) -> None:
        self.declaration = declaration
        self.context = context
        self.ref = ref = context.ref
        self.filing_date: dt.date = context.filing_date  # without a fixed date it asks the clock
        self._charges = ref.charges
        self._amounts: dict[int, LineAmounts] = {}
        tariff_row, treatment_of, released = ref.tariff.row, ref.treatment, declaration.release_date
        self.lines: list[DeclarationLine] = []
        """``declaration.lines``: every line, invoice after invoice."""
        self.line_invoices: list[tuple[Invoice, DeclarationLine]] = []
        """``declaration.line_invoices()``: every line with its invoice."""
        self.line_facts: list[LineFacts] = []
        self.assessable: list[Assessable] = []
        index = 0
        for invoice in declaration.invoices:
            for line in invoice.lines:
                self.lines.append(line)
                self.line_invoices.append((invoice, line))
                row = tariff_row(line.hs_code, line.tariff_treatment, released)
                treatment = treatment_of(line.tariff_treatment)
                if row is not None and treatment is not None:
                    self.assessable.append((index, line, row))
                self.line_facts.append((index, line, row, treatment))
                index += 1

    def assessed_declaring(self, field: str) -> list[Assessed]:
        """The assessable lines that declare ``field`` (an amount compared with the assessment),
        each with its assessment: worked out for a line the first time a rule asks, remembered
        for the other rules."""
        found: list[Assessed] = []
        for index, line, row in self.assessable:
            if getattr(line, field) is None:
                continue
            amounts = self._amounts.get(index)
            if amounts is None:
                amounts = self._amounts[index] = line_amounts(line, row, self._charges, self.declaration.release_date)
            found.append((index, line, row, amounts))
        return found


SHARED: ContextVar[DeclarationFacts | None] = ContextVar("declaration_facts", default=None)
"""The facts of the declaration being checked: ``check_declaration`` sets them for the length
of the check (``SHARED.set`` … ``SHARED.reset``, no scope object per declaration), and every
rule's ``facts(d, ctx)`` returns them."""


def facts(declaration: Declaration, context: RuleContext) -> DeclarationFacts:
    """The shared facts of the declaration being checked, or fresh ones outside a check."""
    current = SHARED.get()
    if current is not None and current.declaration is declaration and current.context is context:
        return current
    return DeclarationFacts(declaration, context)
