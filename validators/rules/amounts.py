"""Tariff and amount rules: classification against the tariff, the exchange rate, and every
declared amount against the gateway's own assessment (the portal's formulas, carm-brief §7).

Declared amounts are optional; a rule only checks the amounts the file declares. Amounts are
compared after rounding half-up to the cent, exactly as ``duties.assessment`` computes them.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from diagnostics import Severity
from domain import Declaration, DeclarationLine
from domain.outcome import AssessedLine
from duties.assessment import GST_RATE, assess_line, percent_of, to_cents
from duties.tariff import TariffRow
from validators.rules.base import RuleContext

_ZERO = Decimal("0.00")


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
    """Each invoice's rate is the one in force on its date of direct shipment (D13-2-3), or on
    the release date when the invoice gives none (``direct_shipment_declared`` warns then)."""
    for index, invoice in enumerate(d.invoices):
        shipped = invoice.direct_shipment_date
        on = shipped or d.release_date
        expected = ctx.ref.exchange_rates.rate(invoice.currency, on)
        if expected is None or invoice.exchange_rate == expected:
            continue
        when = f"the date of direct shipment {on.isoformat()}" if shipped else f"the release date {on.isoformat()}"
        yield (
            f"invoices[{index}].exchange_rate",
            (
                f"{_invoice_name(d, index)}exchange rate {invoice.exchange_rate} CAD per {invoice.currency} "
                f"differs from the reference rate {expected} in force on {when}"
            ),
        )


def direct_shipment_declared(d: Declaration, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    """Without a date of direct shipment, ``exchange_rate`` takes the release date's rate: a
    warning when that may be the wrong one, i.e. when the reference rate changed between the
    invoice's issue date and the release date (the goods shipped in between), or when the
    invoice has no issue date either (nothing bounds the date)."""
    rates = ctx.ref.exchange_rates
    for index, invoice in enumerate(d.invoices):
        if invoice.direct_shipment_date is not None or invoice.currency == "CAD":
            continue
        at_release = rates.rate(invoice.currency, d.release_date)
        issued = invoice.issue_date
        if at_release is None or (issued is not None and rates.rate(invoice.currency, issued) == at_release):
            continue
        why = (
            f"the reference rate changed between the invoice date {issued.isoformat()} and the release date"
            if issued is not None
            else "the invoice has no issue date either"
        )
        yield (
            f"invoices[{index}].direct_shipment_date",
            (
                f"{_invoice_name(d, index)}no date of direct shipment, and {why}: the exchange rate was checked "
                f"against the rate on the release date {d.release_date.isoformat()} ({at_release}); the rate of "
                "the date of direct shipment applies (D13-2-3)"
            ),
        )


def _invoice_name(d: Declaration, index: int) -> str:
    """``invoice INV-2: `` before a message about one invoice of several; nothing for the only one."""
    return f"invoice {d.invoices[index].number}: " if len(d.invoices) > 1 else ""


def value_for_duty(d: Declaration, _: RuleContext) -> Iterator[tuple[str, str] | tuple[str, str, Severity]]:
    """VFD = invoice amount × its invoice's rate + additions − deductions (Customs Act s.48,
    D13-4-3). An error when the line declares its additions or deductions; otherwise a
    warning: the difference may be adjustments the file does not declare."""
    for index, (invoice, line) in enumerate(d.line_invoices()):
        if line.invoice_amount is None:
            continue
        converted = to_cents(line.invoice_amount * invoice.exchange_rate)
        additions, deductions = line.value_additions, line.value_deductions
        expected = converted + to_cents(additions or _ZERO) - to_cents(deductions or _ZERO)
        if to_cents(line.value_for_duty) == expected:
            continue
        product = f"the invoice amount {line.invoice_amount} {invoice.currency} × exchange rate {invoice.exchange_rate}"
        pointer = f"lines[{index}].value_for_duty"
        if additions is None and deductions is None:
            yield (
                pointer,
                (
                    f"line {line.line_number}: value for duty {line.value_for_duty} CAD is not {product} = "
                    f"{converted} CAD; if it holds additions or deductions (Customs Act s.48), declare them"
                ),
                Severity.WARNING,
            )
        else:
            yield (
                pointer,
                (
                    f"line {line.line_number}: value for duty {line.value_for_duty} CAD is not {product} = "
                    f"{converted} CAD + additions {additions or _ZERO} − deductions {deductions or _ZERO} = {expected} CAD"
                ),
                Severity.ERROR,
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
    for index, invoice in enumerate(d.invoices):
        total = invoice.total_amount
        amounts = [line.invoice_amount for line in invoice.lines]
        if total is None or any(amount is None for amount in amounts):
            continue
        lines_sum = sum((amount for amount in amounts if amount is not None), Decimal("0.00"))
        if to_cents(total) != to_cents(lines_sum):
            yield (
                f"invoices[{index}].total_amount",
                (
                    f"{_invoice_name(d, index)}invoice total {total} {invoice.currency} differs from the sum of "
                    f"the line invoice amounts {to_cents(lines_sum)} {invoice.currency}"
                ),
            )
