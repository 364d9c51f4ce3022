"""Payment rules on the domain ``Payment`` — one catalogue for every payment channel
(pain.001, PAYMUL, REMADV): carm-brief §4, §5 and docs/formats/payments.md.

``check_payment(payment, context=None) -> list[Violation]``. Pointers are domain paths
(``remittance[0].account``) that each channel maps back to an XPath or a segment.
The checks that need the portal (unknown account, unknown transaction, duplicate
end-to-end reference) are the portal's (codes P401–P407, portal/payments.py).
"""

from __future__ import annotations

import re
from decimal import Decimal

from domain.identifiers import bn9_of, bn9_valid, is_program_account, transaction_number_valid
from domain.payment import CBSA_CURRENCY, Payment
from validators.rules.base import Rule, RuleContext, Violation

_TWO_PLACES = Decimal("0.01")


def decimals_ok(value: Decimal) -> bool:
    """At most two decimal places (trailing zeros beyond two are tolerated: 10.500)."""
    return value == value.quantize(_TWO_PLACES) if value.is_finite() else False


def currency_cad(p: Payment, _: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if p.currency != CBSA_CURRENCY:
        found.append(("currency", f"payment currency is {p.currency}; CBSA accepts payments in CAD only"))
    return found


def amount_valid(p: Payment, _: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if not p.amount.is_finite() or p.amount <= 0:
        found.append(("amount", f"payment amount {p.amount} must be greater than zero"))
    elif not decimals_ok(p.amount):
        found.append(("amount", f"payment amount {p.amount} has more than 2 decimals"))
    for index, item in enumerate(p.remittance):
        if item.amount is None:
            continue
        if not item.amount.is_finite() or item.amount <= 0:
            found.append((f"remittance[{index}].amount", f"remitted amount {item.amount} must be greater than zero"))
        elif not decimals_ok(item.amount):
            found.append((f"remittance[{index}].amount", f"remitted amount {item.amount} has more than 2 decimals"))
    return found


def remittance_present(p: Payment, _: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if not p.remittance:
        text = f" (remittance text {p.unstructured[:60]!r} names no BN15 RM account)" if p.unstructured else ""
        found.append(("remittance", f"the payment names no program account to apply it to{text}"))
    elif len(p.remittance) > 1 and any(item.amount is None for item in p.remittance):
        index = next(i for i, item in enumerate(p.remittance) if item.amount is None)
        found.append(
            (
                f"remittance[{index}].amount",
                "a payment split over several remittance items needs an amount on every item",
            )
        )
    return found


def amounts_add_up(p: Payment, _: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if len(p.remittance) < 2 and all(item.amount is None for item in p.remittance):
        return found
    if any(item.amount is None for item in p.remittance):
        return found  # remittance_present reports it
    total = sum(p.item_amounts(), Decimal("0"))
    if total != p.amount:
        found.append(("remittance", f"remitted amounts add up to {total}, not to the payment amount {p.amount}"))
    return found


def account_format(p: Payment, _: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for index, item in enumerate(p.remittance):
        if not is_program_account(item.account):
            found.append(
                (
                    f"remittance[{index}].account",
                    f"account {item.account!r} is not a BN15 program account (#########RM####)",
                )
            )
        elif item.account[9:11] != "RM":
            found.append(
                (
                    f"remittance[{index}].account",
                    (
                        f"account {item.account} is a {item.account[9:11]} account; payments are applied to RM (import) accounts"
                    ),
                )
            )
    return found


def account_bn9(p: Payment, _: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for index, item in enumerate(p.remittance):
        if is_program_account(item.account) and not bn9_valid(bn9_of(item.account)):
            found.append(
                (
                    f"remittance[{index}].account",
                    f"BN9 {bn9_of(item.account)} of account {item.account} fails the Luhn check digit",
                )
            )
    return found


_DIGITS = re.compile(r"^[0-9]{14}$")


def transaction_numbers(p: Payment, _: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for index, item in enumerate(p.remittance):
        for position, number in enumerate(item.transaction_numbers):
            pointer = f"remittance[{index}].transaction_numbers[{position}]"
            if not _DIGITS.match(number):
                found.append((pointer, f"transaction number {number!r} is not 14 digits"))
            elif not transaction_number_valid(number):
                found.append((pointer, f"transaction number {number} fails its check digit"))
    return found


PAYMENT_RULES: tuple[Rule[Payment], ...] = (
    Rule(
        "PAY-CUR",
        "Payment currency is CAD",
        currency_cad,
        field="currency",
        portal_code="P402",
        group="Payments",
        notes="pain.002 AM03. Applies in every context: a gateway rejection, also enforced by the portal.",
        source="unverified: our choice, docs/decisions.md (CARM payments are in Canadian dollars)",
    ),
    Rule(
        "PAY-AMT",
        "Amounts are greater than zero with at most 2 decimals",
        amount_valid,
        field="amount, remittance[i].amount",
        portal_code="P406",
        group="Payments",
        notes="pain.002 AM12.",
        source="ISO 4217 (CAD has two decimal places)",
    ),
    Rule(
        "PAY-RMT",
        "The payment names at least one program account; split payments give every item an amount",
        remittance_present,
        field="remittance",
        group="Payments",
        notes="Structured remittance (CdtrRefInf, DOC/RFF) or a BN15 in the unstructured text. pain.002 NARR.",
        source="unverified: our choice, docs/decisions.md",
    ),
    Rule(
        "PAY-SUM",
        "Remitted amounts add up to the payment amount",
        amounts_add_up,
        field="remittance",
        portal_code="P403",
        group="Payments",
        notes="pain.002 AM09.",
        source="unverified: our choice, docs/decisions.md",
    ),
    Rule(
        "PAY-ACCT",
        "Remittance accounts are BN15 RM program accounts (#########RM####)",
        account_format,
        field="remittance[i].account",
        portal_code="P407",
        group="Payments",
        notes="pain.002 AC01.",
        source="carm-brief §5 (RM program account #########RM####); CSCB CARM Bulletin 5397",
    ),
    Rule(
        "PAY-BN9",
        "Remittance account BN9 passes Luhn",
        account_bn9,
        field="remittance[i].account",
        portal_code="P407",
        group="Payments",
        notes="pain.002 AC01.",
        source="python-stdnum stdnum/ca/bn.py (the BN9 check digit is Luhn)",
    ),
    Rule(
        "PAY-TXN",
        "Remitted transaction numbers are 14 digits with a valid check digit",
        transaction_numbers,
        field="remittance[i].transaction_numbers[j]",
        group="Payments",
        notes="pain.002 NARR. Whether the transaction is on the account is the portal's check (P405).",
        source="carm-brief §5 (14-digit transaction number with its check digit)",
    ),
)
"""In the order they run. Portal codes are listed for reference: unlike the declaration
rules, payment rules run in every context (the gateway rejects before posting)."""


def check_payment(payment: Payment, context: RuleContext | None = None) -> list[Violation]:
    """Every violation of every payment rule, in catalogue order (warnings included)."""
    context = context if context is not None else RuleContext()
    return [violation for rule in PAYMENT_RULES for violation in rule.run(payment, context)]
