"""Business rules on the domain ``Declaration`` — the same for every channel.

Each rule has a stable id (at most 8 characters, so it fits CUSRES ERC 9321),
a severity and the field it points at; channels map the field back to their
own positions (segment/element or XPath).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from diagnostics import Severity
from domain import Declaration, DeclarationFunction
from domain.identifiers import bn9_of, bn9_valid, transaction_number_valid


@dataclass(frozen=True)
class Violation:
    rule_id: str
    message: str
    pointer: str
    severity: Severity = Severity.ERROR


@dataclass(frozen=True)
class Rule:
    rule_id: str
    summary: str
    check: Callable[[Declaration], Iterator[Violation]]


def _importer_bn9(d: Declaration) -> Iterator[Violation]:
    if not bn9_valid(bn9_of(d.importer.account)):
        yield Violation("ID-BN9-I", f"importer BN9 {bn9_of(d.importer.account)} fails the Luhn check digit", "importer.account")


def _declarant_bn9(d: Declaration) -> Iterator[Violation]:
    if not bn9_valid(bn9_of(d.declarant.account)):
        yield Violation("ID-BN9-D", f"declarant BN9 {bn9_of(d.declarant.account)} fails the Luhn check digit", "declarant.account")


def _importer_program(d: Declaration) -> Iterator[Violation]:
    program = d.importer.account[9:11]
    if program != "RM":
        yield Violation("ID-RM", f"importer account {d.importer.account} is a {program} account; a CAD needs an RM (importer) account", "importer.account")


def _transaction_check_digit(d: Declaration) -> Iterator[Violation]:
    if not transaction_number_valid(d.transaction_number):
        yield Violation("ID-TXN", f"transaction number {d.transaction_number} fails its check digit", "transaction_number")


def _change_has_reason(d: Declaration) -> Iterator[Violation]:
    if d.function is DeclarationFunction.CHANGE and d.amendment is None:
        yield Violation("VER-RSN", "a change (correction or adjustment) must carry a reason code", "amendment")


def _original_is_version_one(d: Declaration) -> Iterator[Violation]:
    if d.function is DeclarationFunction.ORIGINAL and d.version != 1:
        yield Violation("VER-ORIG", f"an original declaration is version 1, not {d.version}", "version")


def _lines_numbered(d: Declaration) -> Iterator[Violation]:
    for index, line in enumerate(d.lines):
        if line.line_number != index + 1:
            yield Violation("LIN-SEQ", f"line {index + 1} is numbered {line.line_number}; lines are numbered 1, 2, 3 … in order", f"lines[{index}].line_number")


RULES: tuple[Rule, ...] = (
    Rule("ID-BN9-I", "Importer BN9 passes Luhn", _importer_bn9),
    Rule("ID-BN9-D", "Declarant BN9 passes Luhn", _declarant_bn9),
    Rule("ID-RM", "Importer account is an RM program account", _importer_program),
    Rule("ID-TXN", "Transaction number check digit (sum mod 10, every second digit doubled)", _transaction_check_digit),
    Rule("VER-RSN", "A change carries a reason code", _change_has_reason),
    Rule("VER-ORIG", "An original is version 1", _original_is_version_one),
    Rule("LIN-SEQ", "Lines are numbered 1..n in order", _lines_numbered),
)


def check_declaration(declaration: Declaration) -> list[Violation]:
    """Every violation of every rule, in rule order."""
    return [violation for rule in RULES for violation in rule.check(declaration)]
