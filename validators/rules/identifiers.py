"""Identifier rules: business numbers, program accounts, transaction number, codes from the
reference lists (carm-brief §5, §7)."""

from __future__ import annotations

from domain import Declaration
from domain.identifiers import bn9_of, bn9_valid, transaction_check_digit, transaction_number_valid
from validators.rules.base import RuleContext
from validators.rules.facts import facts

PROGRAM_IDS = ("RC", "RM", "RP", "RT")
"""The program identifiers of a BN15 (python-stdnum's list, carm-brief §5)."""


def importer_bn9(d: Declaration, _: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if not bn9_valid(bn9_of(d.importer.account)):
        found.append(("importer.account", f"importer BN9 {bn9_of(d.importer.account)} fails the Luhn check digit"))
    return found


def declarant_bn9(d: Declaration, _: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if not bn9_valid(bn9_of(d.declarant.account)):
        found.append(("declarant.account", f"declarant BN9 {bn9_of(d.declarant.account)} fails the Luhn check digit"))
    return found


def importer_program(d: Declaration, _: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    program = d.importer.account[9:11]
    if program != "RM":
        found.append(
            (
                "importer.account",
                (f"importer account {d.importer.account} is a {program} account; a CAD needs an RM (importer) account"),
            )
        )
    return found


def declarant_program(d: Declaration, _: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    program = d.declarant.account[9:11]
    if program not in PROGRAM_IDS:
        found.append(
            (
                "declarant.account",
                (
                    f"declarant account {d.declarant.account} has program identifier {program}; "
                    f"a BN15 program account is one of {', '.join(PROGRAM_IDS)}"
                ),
            )
        )
    return found


def transaction_number_check_digit(d: Declaration, _: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    number = d.transaction_number
    if not transaction_number_valid(number):
        expected = transaction_check_digit(number[:13])
        found.append(
            (
                "transaction_number",
                (
                    f"transaction number {number} fails its check digit: the last digit is {number[13]}, "
                    f"expected {expected} ({number[:13]}{expected})"
                ),
            )
        )
    return found


def office_known(d: Declaration, ctx: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    ref = ctx.ref
    if d.office_of_release not in ref.offices:
        found.append(
            (
                "office_of_release",
                (
                    f"office of release {d.office_of_release} is not in the office list "
                    f"(offices.csv {ref.versions.get('offices.csv')})"
                ),
            )
        )
    return found


def cargo_control_number(d: Declaration, _: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    ccn = d.cargo_control_number
    if ccn is None:
        return found
    carrier, reference = ccn[:4], ccn[4:]
    if not carrier.isalnum():
        found.append(
            (
                "cargo_control_number",
                (
                    f"cargo control number {ccn} must start with the 4-character carrier code (A-Z, 0-9), not {carrier!r}"
                ),
            )
        )
    elif not any(char.isalnum() for char in reference):
        found.append(
            (
                "cargo_control_number",
                f"cargo control number {ccn} has no carrier reference after the carrier code {carrier}",
            )
        )
    return found


def countries_known(d: Declaration, ctx: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    shared = facts(d, ctx)
    countries = shared.ref.countries
    for index, invoice in enumerate(d.invoices):
        country = invoice.vendor.country
        if country is not None and country not in countries:
            found.append(
                (f"invoices[{index}].vendor.country", f"vendor country {country} is not an ISO 3166 country code")
            )
    for index, line in enumerate(shared.lines):
        if line.country_of_origin not in countries:
            found.append(
                (
                    f"lines[{index}].country_of_origin",
                    (
                        f"line {line.line_number}: country of origin {line.country_of_origin} is not an ISO 3166 country code"
                    ),
                )
            )
    return found


def currency_known(d: Declaration, ctx: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    currencies = ctx.ref.currencies
    for index, invoice in enumerate(d.invoices):
        if invoice.currency not in currencies:
            found.append(
                (f"invoices[{index}].currency", f"currency {invoice.currency} is not an ISO 4217 currency code")
            )
    return found


def units_known(d: Declaration, ctx: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    shared = facts(d, ctx)
    units = shared.ref.units
    for index, line in enumerate(shared.lines):
        if line.unit not in units:
            found.append(
                (
                    f"lines[{index}].unit",
                    (
                        f"line {line.line_number}: unit of measure {line.unit} is not a UN/ECE Recommendation 20 code "
                        f"in the unit list (units.csv {ctx.ref.versions.get('units.csv')})"
                    ),
                )
            )
    return found


def lines_numbered(d: Declaration, ctx: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for index, line in enumerate(facts(d, ctx).lines):
        if line.line_number != index + 1:
            found.append(
                (
                    f"lines[{index}].line_number",
                    (f"line {index + 1} is numbered {line.line_number}; lines are numbered 1, 2, 3 … in order"),
                )
            )
    return found
