"""Tariff and amount rules: classification against the tariff, the exchange rate, and every
declared amount against the gateway's own assessment (the portal's formulas, carm-brief §7).

Declared amounts are optional; a rule only checks the amounts the file declares. Amounts are
compared after rounding half-up to the cent, exactly as ``duties.assessment`` computes them.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from domain import Declaration, DeclarationLine
from domain.outcome import AssessedLine
from duties.assessment import GST_RATE, assess_line, percent_of, to_cents
from duties.tariff import TariffRow
from validators.rules.base import RuleContext


def _row(d: Declaration, line: DeclarationLine, ctx: RuleContext) -> TariffRow | None:
    return ctx.ref.tariff.row(line.hs_code, line.tariff_treatment, d.release_date)


def _assessed(d: Declaration, ctx: RuleContext) -> Iterator[tuple[int, DeclarationLine, TariffRow, AssessedLine]]:
    """Lines the gateway can assess (known treatment, HS row in force), with the assessment."""
    for index, line in enumerate(d.lines):
        row = _row(d, line, ctx)
        if row is not None and ctx.ref.treatment(line.tariff_treatment) is not None:
            yield index, line, row, assess_line(line, row)


def hs_in_tariff(d: Declaration, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    tariff = ctx.ref.tariff
    for index, line in enumerate(d.lines):
        if _row(d, line, ctx) is not None:
            continue
        listed = tariff.first_listed(line.hs_code)
        if listed is not None:
            problem = (
                f"has no row in force on the release date {d.release_date.isoformat()} in {tariff.described}; "
                f"its rows apply from {listed.isoformat()}"
            )
        elif tariff.excerpt:
            problem = (
                f"is not in {tariff.described}: the excerpt holds only some tariff items, so check the code "
                "against the Customs Tariff or load a full extract"
            )
        else:
            problem = f"is not in {tariff.described}"
        yield f"lines[{index}].hs_code", f"line {line.line_number}: HS code {line.hs_code} {problem}"


def treatment_known(d: Declaration, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    for index, line in enumerate(d.lines):
        if ctx.ref.treatment(line.tariff_treatment) is None:
            yield (
                f"lines[{index}].tariff_treatment",
                (
                    f"line {line.line_number}: tariff treatment {line.tariff_treatment} is not a treatment code; "
                    f"accepted: {ctx.ref.accepted_treatments()}"
                ),
            )


def treatment_for_origin(d: Declaration, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    for index, line in enumerate(d.lines):
        info = ctx.ref.treatment(line.tariff_treatment)
        origin = line.country_of_origin
        if info is None or info.allows(origin):
            continue
        entitled = ", ".join(other.label for other in ctx.ref.treatments_for(origin)) or "none listed"
        yield (
            f"lines[{index}].tariff_treatment",
            (
                f"line {line.line_number}: {info.label} {info.name} does not apply to goods originating in {origin} "
                f"(it applies to {info.describe_origins()}); goods from {origin} may claim: {entitled}"
            ),
        )


def exchange_rate(d: Declaration, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    expected = ctx.ref.exchange_rates.rate(d.currency, d.release_date)
    if expected is not None and d.exchange_rate != expected:
        yield (
            "exchange_rate",
            (
                f"exchange rate {d.exchange_rate} CAD per {d.currency} differs from the reference rate "
                f"{expected} in force on the release date {d.release_date.isoformat()}"
            ),
        )


def value_for_duty(d: Declaration, _: RuleContext) -> Iterator[tuple[str, str]]:
    for index, line in enumerate(d.lines):
        if line.invoice_amount is None:
            continue
        expected = to_cents(line.invoice_amount * d.exchange_rate)
        if to_cents(line.value_for_duty) != expected:
            yield (
                f"lines[{index}].value_for_duty",
                (
                    f"line {line.line_number}: value for duty {line.value_for_duty} CAD is not the invoice amount "
                    f"{line.invoice_amount} {d.currency} × exchange rate {d.exchange_rate} = {expected} CAD"
                ),
            )


def duty_rate(d: Declaration, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    for index, line, row, _ in _assessed(d, ctx):
        if line.duty_rate is not None and line.duty_rate != row.duty_rate:
            yield (
                f"lines[{index}].duty_rate",
                (
                    f"line {line.line_number}: duty rate {line.duty_rate} % differs from the tariff rate "
                    f"{row.duty_rate} % for HS {line.hs_code} under {ctx.ref.treatment_label(line.tariff_treatment)}"
                ),
            )


def customs_duty(d: Declaration, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    for index, line, row, assessed in _assessed(d, ctx):
        if line.customs_duty is not None and line.customs_duty != assessed.customs_duty:
            yield (
                f"lines[{index}].customs_duty",
                (
                    f"line {line.line_number}: customs duty {line.customs_duty} differs from "
                    f"{row.duty_rate} % × value for duty {assessed.value_for_duty} = {assessed.customs_duty}"
                ),
            )


def excise_tax(d: Declaration, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    for index, line, row, assessed in _assessed(d, ctx):
        if line.excise_tax is not None and line.excise_tax != assessed.excise_tax:
            yield (
                f"lines[{index}].excise_tax",
                (
                    f"line {line.line_number}: excise tax {line.excise_tax} differs from "
                    f"{row.excise_rate} % × value for duty {assessed.value_for_duty} = {assessed.excise_tax}"
                ),
            )


def value_for_tax(d: Declaration, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    for index, line, _, assessed in _assessed(d, ctx):
        if line.value_for_tax is not None and line.value_for_tax != assessed.value_for_tax:
            yield (
                f"lines[{index}].value_for_tax",
                (
                    f"line {line.line_number}: value for tax {line.value_for_tax} differs from value for duty "
                    f"{assessed.value_for_duty} + customs duty {assessed.customs_duty} + excise tax "
                    f"{assessed.excise_tax} = {assessed.value_for_tax}"
                ),
            )


def gst(d: Declaration, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    for index, line, row, assessed in _assessed(d, ctx):
        if line.gst is None or line.gst == assessed.gst:
            continue
        pointer = f"lines[{index}].gst"
        if row.gst_exempt:
            yield (
                pointer,
                (
                    f"line {line.line_number}: GST {line.gst} declared on goods that are GST-exempt "
                    f"(HS {line.hs_code}); GST is 0.00"
                ),
            )
        elif (
            line.gst == percent_of(assessed.value_for_duty, GST_RATE)
            and assessed.value_for_tax != assessed.value_for_duty
        ):
            yield (
                pointer,
                (
                    f"line {line.line_number}: GST {line.gst} is computed on the value for duty "
                    f"{assessed.value_for_duty}; GST is {GST_RATE} % of the value for tax {assessed.value_for_tax} "
                    f"(value for duty + duty + excise) = {assessed.gst}"
                ),
            )
        else:
            yield (
                pointer,
                (
                    f"line {line.line_number}: GST {line.gst} differs from {GST_RATE} % × value for tax "
                    f"{assessed.value_for_tax} = {assessed.gst}"
                ),
            )


def header_total(d: Declaration, _: RuleContext) -> Iterator[tuple[str, str]]:
    total = d.invoice.total_amount
    amounts = [line.invoice_amount for line in d.lines]
    if total is None or any(amount is None for amount in amounts):
        return
    lines_sum = sum((amount for amount in amounts if amount is not None), Decimal("0.00"))
    if to_cents(total) != to_cents(lines_sum):
        yield (
            "invoice.total_amount",
            (
                f"invoice total {total} {d.currency} differs from the sum of the line invoice amounts "
                f"{to_cents(lines_sum)} {d.currency}"
            ),
        )
