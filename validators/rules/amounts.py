"""Tariff and amount rules: classification against the tariff, the exchange rate, and every
declared amount against the gateway's own assessment (the portal's formulas, carm-brief §7).

Declared amounts are optional; a rule only checks the amounts the file declares. Amounts are
compared after rounding half-up to the cent, exactly as ``duties.assessment`` computes them.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from diagnostics import Severity
from domain import Declaration, DeclarationLine, Invoice
from duties.assessment import LineAmounts, excise_amount, gst_rate, percent_of, to_cents
from duties.tariff import TariffRow
from validators.rules.base import RuleContext
from validators.rules.facts import facts

_ZERO = Decimal("0.00")


def hs_in_tariff(d: Declaration, ctx: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for index, line, row, _ in facts(d, ctx).line_facts:
        if row is not None:
            continue
        tariff = ctx.ref.tariff
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
        found.append((f"lines[{index}].hs_code", f"line {line.line_number}: HS code {line.hs_code} {problem}"))
    return found


def treatment_known(d: Declaration, ctx: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for index, line, _, treatment in facts(d, ctx).line_facts:
        if treatment is None:
            found.append(
                (
                    f"lines[{index}].tariff_treatment",
                    (
                        f"line {line.line_number}: tariff treatment {line.tariff_treatment} is not a treatment code; "
                        f"accepted: {ctx.ref.accepted_treatments()}"
                    ),
                )
            )
    return found


def treatment_for_origin(d: Declaration, ctx: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for index, line, _, info in facts(d, ctx).line_facts:
        origin = line.country_of_origin
        if info is None or info.allows(origin):
            continue
        entitled = ", ".join(other.label for other in ctx.ref.treatments_for(origin)) or "none listed"
        found.append(
            (
                f"lines[{index}].tariff_treatment",
                (
                    f"line {line.line_number}: {info.label} {info.name} does not apply to goods originating in {origin} "
                    f"(it applies to {info.describe_origins()}); goods from {origin} may claim: {entitled}"
                ),
            )
        )
    return found


def exchange_rate(d: Declaration, ctx: RuleContext) -> list[tuple[str, str]]:
    """Each invoice's rate is the one in force on its date of direct shipment (D13-2-3), or on
    the release date when the invoice gives none (``direct_shipment_declared`` warns then)."""
    found: list[tuple[str, str]] = []
    rates = facts(d, ctx).ref.exchange_rates
    for index, invoice in enumerate(d.invoices):
        shipped = invoice.direct_shipment_date
        on = shipped or d.release_date
        expected = rates.rate(invoice.currency, on)
        if expected is None or invoice.exchange_rate == expected:
            continue
        when = f"the date of direct shipment {on.isoformat()}" if shipped else f"the release date {on.isoformat()}"
        found.append(
            (
                f"invoices[{index}].exchange_rate",
                (
                    f"{_invoice_name(d, index)}exchange rate {invoice.exchange_rate} CAD per {invoice.currency} "
                    f"differs from the reference rate {expected} in force on {when} "
                    f"({_rate_source(ctx, invoice.currency, on)})"
                ),
            )
        )
    return found


def direct_shipment_declared(d: Declaration, ctx: RuleContext) -> list[tuple[str, str]]:
    """Without a date of direct shipment, ``exchange_rate`` takes the release date's rate: a
    warning when that may be the wrong one, i.e. when the reference rate changed between the
    invoice's issue date and the release date (the goods shipped in between), or when the
    invoice has no issue date either (nothing bounds the date)."""
    found: list[tuple[str, str]] = []
    rates = facts(d, ctx).ref.exchange_rates
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
        found.append(
            (
                f"invoices[{index}].direct_shipment_date",
                (
                    f"{_invoice_name(d, index)}no date of direct shipment, and {why}: the exchange rate was checked "
                    f"against the rate on the release date {d.release_date.isoformat()} ({at_release}); the rate of "
                    "the date of direct shipment applies (D13-2-3)"
                ),
            )
        )
    return found


def _rate_source(ctx: RuleContext, currency: str, on: dt.date) -> str:
    """``the rate of 2024-01-01, exchange rates version V``: which rate row and table a finding used."""
    rate_date = ctx.ref.exchange_rates.rate_date(currency, on)
    version = ctx.ref.versions.get("exchange_rates.csv") or "unnamed"
    return f"the rate of {rate_date.isoformat() if rate_date else 'no date'}, exchange rates version {version}"


def _invoice_name(d: Declaration, index: int) -> str:
    """``invoice INV-2: `` before a message about one invoice of several; nothing for the only one."""
    return f"invoice {d.invoices[index].number}: " if len(d.invoices) > 1 else ""


def value_for_duty(d: Declaration, ctx: RuleContext) -> list[tuple[str, str] | tuple[str, str, Severity]]:
    """VFD = invoice amount × its invoice's rate + additions − deductions (Customs Act s.48,
    D13-4-3). An error when the line declares its additions or deductions; otherwise a
    warning: the difference may be adjustments the file does not declare."""
    found: list[tuple[str, str] | tuple[str, str, Severity]] = []
    for index, (invoice, line) in enumerate(facts(d, ctx).line_invoices):
        if line.invoice_amount is None:
            continue
        converted = to_cents(line.invoice_amount * invoice.exchange_rate)
        additions, deductions = line.value_additions, line.value_deductions
        declared = to_cents(line.value_for_duty)
        if additions is None and deductions is None:  # most lines: nothing to add or take off
            if declared == converted:
                continue
        else:
            expected = converted + to_cents(additions or _ZERO) - to_cents(deductions or _ZERO)
            if declared == expected:
                continue
        product = f"the invoice amount {line.invoice_amount} {invoice.currency} × exchange rate {invoice.exchange_rate}"
        pointer = f"lines[{index}].value_for_duty"
        if additions is None and deductions is None:
            found.append(
                (
                    pointer,
                    (
                        f"line {line.line_number}: value for duty {line.value_for_duty} CAD is not {product} = "
                        f"{converted} CAD; if it holds additions or deductions (Customs Act s.48), declare them"
                    ),
                    Severity.WARNING,
                )
            )
        else:
            found.append(
                (
                    pointer,
                    (
                        f"line {line.line_number}: value for duty {line.value_for_duty} CAD is not {product} = "
                        f"{converted} CAD + additions {additions or _ZERO} − deductions {deductions or _ZERO} = {expected} CAD"
                    ),
                    Severity.ERROR,
                )
            )
    return found


def duty_rate(d: Declaration, ctx: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for index, line, row in facts(d, ctx).assessable:
        if line.duty_rate is not None and line.duty_rate != row.duty_rate:
            found.append(
                (
                    f"lines[{index}].duty_rate",
                    (
                        f"line {line.line_number}: duty rate {line.duty_rate} % differs from the tariff rate "
                        f"{row.duty_rate} % for HS {line.hs_code} under {ctx.ref.treatment_label(line.tariff_treatment)} "
                        f"in {ctx.ref.tariff.described}"
                    ),
                )
            )
    return found


def customs_duty(d: Declaration, ctx: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for index, line, row, assessed in facts(d, ctx).assessed_declaring("customs_duty"):
        if line.customs_duty != assessed.customs_duty:
            found.append(
                (
                    f"lines[{index}].customs_duty",
                    (
                        f"line {line.line_number}: customs duty {line.customs_duty} differs from "
                        f"{_duty_formula(line, row, assessed)} = {assessed.customs_duty}, by {ctx.ref.tariff.described}"
                    ),
                )
            )
    return found


def _duty_formula(line: DeclarationLine, row: TariffRow, assessed: LineAmounts) -> str:
    ad_valorem = f"{row.duty_rate} % × value for duty {assessed.value_for_duty}"
    if row.specific_rate is None:
        return ad_valorem
    return (
        f"{ad_valorem} + {row.specific_rate} CAD per {row.specific_unit} × quantity {line.quantity} {line.unit} "
        f"(specific duty {assessed.specific_duty})"
    )


def specific_unit(d: Declaration, ctx: RuleContext) -> list[tuple[str, str]]:
    """A specific rate is per unit: the quantity must be in that unit (CBSA does not convert), and a
    declared specific rate and unit must be the tariff's."""
    found: list[tuple[str, str]] = []
    for index, line, row in facts(d, ctx).assessable:
        if row.specific_rate is not None and line.unit != row.specific_unit:
            treatment = ctx.ref.treatment_label(line.tariff_treatment)
            found.append(
                (
                    f"lines[{index}].unit",
                    (
                        f"line {line.line_number}: HS {line.hs_code} under {treatment} has a specific duty of "
                        f"{row.specific_rate} CAD per {row.specific_unit}, but the quantity is in {line.unit}: "
                        f"declare the quantity in {row.specific_unit}"
                    ),
                )
            )
        declared = (line.specific_duty_rate, line.specific_duty_unit)
        if declared != (None, None) and declared != (row.specific_rate, row.specific_unit):
            treatment = ctx.ref.treatment_label(line.tariff_treatment)
            tariff_rate = (
                f"{row.specific_rate} CAD per {row.specific_unit}" if row.specific_rate is not None else "none"
            )
            found.append(
                (
                    f"lines[{index}].specific_duty_rate",
                    (
                        f"line {line.line_number}: specific duty rate {line.specific_duty_rate} CAD per "
                        f"{line.specific_duty_unit} differs from the tariff's for HS {line.hs_code} under {treatment}: "
                        f"{tariff_rate}"
                    ),
                )
            )
    return found


def excise_tax(d: Declaration, ctx: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for index, line, row, assessed in facts(d, ctx).assessed_declaring("excise_tax"):
        if line.excise_tax != assessed.excise_tax:
            coded = [f"excise tax {c.code} {c.amount}" for c in assessed.excise if c.kind == "tax"]
            formula = " + ".join(coded) if coded else f"{row.excise_rate} % × value for duty {assessed.value_for_duty}"
            found.append(
                (
                    f"lines[{index}].excise_tax",
                    f"line {line.line_number}: excise tax {line.excise_tax} differs from {formula} = {assessed.excise_tax}",
                )
            )
    return found


def excise_codes(d: Declaration, ctx: RuleContext) -> list[tuple[str, str]]:
    """Each declared excise duty or tax (CN 24-35): a code of the table, a per-unit rate in the
    line's unit, and a declared amount equal to the rate applied."""
    found: list[tuple[str, str]] = []
    for index, line in enumerate(facts(d, ctx).lines):
        if not line.excise:
            continue
        table = ctx.ref.charges.excise
        for position, charge in enumerate(line.excise):
            pointer = f"lines[{index}].excise[{position}]"
            code = table.get(charge.code)
            if code is None:
                known = ", ".join(sorted(table)) or "none loaded"
                found.append(
                    (
                        f"{pointer}.code",
                        f"line {line.line_number}: excise code {charge.code} is not in the excise code list ({known})",
                    )
                )
                continue
            if code.basis == "unit" and line.unit != code.unit:
                found.append(
                    (
                        f"{pointer}.code",
                        (
                            f"line {line.line_number}: excise {code.code} ({code.name}) is {code.describe_rate()}, "
                            f"but the quantity is in {line.unit}: declare the quantity in {code.unit}"
                        ),
                    )
                )
                continue
            expected = excise_amount(charge, code, line)
            if charge.amount is not None and to_cents(charge.amount) != expected:
                base = (
                    f"value for duty {to_cents(line.value_for_duty)}"
                    if code.basis == "percent"
                    else f"quantity {line.quantity} {line.unit}"
                )
                found.append(
                    (
                        f"{pointer}.amount",
                        (
                            f"line {line.line_number}: excise {code.kind} {code.code} {charge.amount} differs from "
                            f"{code.describe_rate()} × {base} = {expected}"
                        ),
                    )
                )
    return found


def surtax(d: Declaration, ctx: RuleContext) -> list[tuple[str, str]]:
    """Goods under a surtax order declare the indicator and the order's code (CSCB Bulletin 5396),
    and a declared surtax is the order's rate × the value for duty."""
    found: list[tuple[str, str]] = []
    shared = facts(d, ctx)
    surtax_order, released = shared.ref.charges.surtax_order, d.release_date
    for index, line in enumerate(shared.lines):
        order = surtax_order(line.hs_code, line.country_of_origin, released)
        if order is None:
            continue
        goods = f"line {line.line_number}: HS {line.hs_code} from {line.country_of_origin} falls under {order.code} ({order.name}, {order.rate} % from {order.valid_from.isoformat()})"
        if line.surtax_indicator is not True:
            said = "no surtax indicator" if line.surtax_indicator is None else "the surtax indicator N"
            found.append(
                (
                    f"lines[{index}].surtax_indicator",
                    f"{goods}, but declares {said}: declare Y and the code {order.code}",
                )
            )
        elif line.surtax_code != order.code:
            said = f"the code {line.surtax_code}" if line.surtax_code else "no surtax code"
            found.append((f"lines[{index}].surtax_code", f"{goods}, but declares {said}: declare {order.code}"))
        else:
            expected = percent_of(to_cents(line.value_for_duty), order.rate)
            if line.surtax is not None and to_cents(line.surtax) != expected:
                found.append(
                    (
                        f"lines[{index}].surtax",
                        (
                            f"line {line.line_number}: surtax {line.surtax} differs from {order.rate} % × value for duty "
                            f"{to_cents(line.value_for_duty)} = {expected} ({order.code})"
                        ),
                    )
                )
    return found


def gst_status(d: Declaration, ctx: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for index, line in enumerate(facts(d, ctx).lines):
        if line.gst_status_code is None:
            continue
        statuses = ctx.ref.charges.gst_statuses
        if line.gst_status_code not in statuses:
            known = ", ".join(f"{s.code} ({s.name}, {s.rate} %)" for s in statuses.values()) or "none loaded"
            found.append(
                (
                    f"lines[{index}].gst_status_code",
                    f"line {line.line_number}: GST status code {line.gst_status_code} is not a known code: {known}",
                )
            )
    return found


def value_for_tax(d: Declaration, ctx: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for index, line, _, assessed in facts(d, ctx).assessed_declaring("value_for_tax"):
        if line.value_for_tax != assessed.value_for_tax:
            found.append(
                (
                    f"lines[{index}].value_for_tax",
                    (
                        f"line {line.line_number}: value for tax {line.value_for_tax} differs from "
                        f"{_value_for_tax_formula(assessed)} = {assessed.value_for_tax}"
                    ),
                )
            )
    return found


def _value_for_tax_formula(assessed: LineAmounts) -> str:
    """``value for duty 810.00 + customs duty 145.80`` and every other amount that is not zero."""
    parts = [
        ("customs duty", assessed.customs_duty),
        ("excise duty", assessed.excise_duty),
        ("excise tax", assessed.excise_tax),
        ("anti-dumping duty", assessed.anti_dumping_duty),
        ("countervailing duty", assessed.countervailing_duty),
        ("surtax", assessed.surtax),
        ("safeguard", assessed.safeguard),
    ]
    shown = [f"{name} {amount}" for name, amount in parts if amount or name in ("customs duty", "excise tax")]
    return " + ".join([f"value for duty {assessed.value_for_duty}", *shown])


def gst(d: Declaration, ctx: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for index, line, row, assessed in facts(d, ctx).assessed_declaring("gst"):
        if line.gst == assessed.gst:
            continue
        pointer = f"lines[{index}].gst"
        rate = gst_rate(line, row, ctx.ref.charges)
        status = f"GST status code {line.gst_status_code}" if line.gst_status_code else None
        if not rate:
            goods = f"whose {status} makes them non-taxable" if status else f"that are GST-exempt (HS {line.hs_code})"
            found.append((pointer, f"line {line.line_number}: GST {line.gst} declared on goods {goods}; GST is 0.00"))
        elif (
            line.gst == percent_of(assessed.value_for_duty, rate) and assessed.value_for_tax != assessed.value_for_duty
        ):
            found.append(
                (
                    pointer,
                    (
                        f"line {line.line_number}: GST {line.gst} is computed on the value for duty "
                        f"{assessed.value_for_duty}; GST is {rate} % of the value for tax {assessed.value_for_tax} "
                        f"(value for duty + duties + taxes) = {assessed.gst}"
                    ),
                )
            )
        else:
            found.append(
                (
                    pointer,
                    (
                        f"line {line.line_number}: GST {line.gst} differs from {rate} % × value for tax "
                        f"{assessed.value_for_tax} = {assessed.gst}" + (f" ({status})" if status else "")
                    ),
                )
            )
    return found


def header_total(d: Declaration, _: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for index, invoice in enumerate(d.invoices):
        total = invoice.total_amount
        if total is None:
            continue
        lines_sum = _lines_sum(invoice)
        if lines_sum is None or total == lines_sum or to_cents(total) == to_cents(lines_sum):
            continue
        found.append(
            (
                f"invoices[{index}].total_amount",
                (
                    f"{_invoice_name(d, index)}invoice total {total} {invoice.currency} differs from the sum of "
                    f"the line invoice amounts {to_cents(lines_sum)} {invoice.currency}"
                ),
            )
        )
    return found


def _lines_sum(invoice: Invoice) -> Decimal | None:
    """The sum of the line invoice amounts; None when a line does not declare its amount."""
    total = _ZERO
    for line in invoice.lines:
        if line.invoice_amount is None:
            return None
        total += line.invoice_amount
    return total
