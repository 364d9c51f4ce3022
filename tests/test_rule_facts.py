"""The rules share one resolution and one assessment per line within a check
(validators/rules/facts.py), and give the same findings as rules computing them alone."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest

from duties import assessment
from tests.builders import declaration, with_lines
from validators.rules import RULES, RuleContext, check_declaration
from validators.rules import facts as facts_module
from validators.rules.facts import facts, shared_facts

CONTEXT = RuleContext(today=dt.date(2025, 1, 16))


def _three_lines_one_wrong():
    """Fixture v01's line three times, the third with a customs duty off by one cent and an HS code
    the tariff lacks on the second."""
    d = declaration()
    [line] = d.lines
    unknown = line.model_copy(update={"line_number": 2, "hs_code": "9999999999"})
    off = line.model_copy(update={"line_number": 3, "customs_duty": Decimal("145.81")})
    return with_lines(d, [line, unknown, off])


def test_each_line_is_assessed_once_per_check(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = assessment.assess_line

    def counted(line, *arguments):
        calls.append(line.line_number)
        return real(line, *arguments)

    monkeypatch.setattr(facts_module, "assess_line", counted)
    check_declaration(_three_lines_one_wrong(), CONTEXT)
    # lines 1 and 3 have a tariff row; line 2's HS code has none, so it is never assessed
    assert calls == [1, 3]


def test_the_shared_findings_are_those_of_each_rule_on_its_own() -> None:
    d = _three_lines_one_wrong()
    alone = [violation for rule in RULES if rule.applies(CONTEXT) for violation in rule.run(d, CONTEXT)]
    shared = check_declaration(d, CONTEXT)
    assert shared == alone
    codes = {(violation.rule_id, violation.pointer) for violation in shared}
    assert ("TAR-HS", "lines[1].hs_code") in codes
    assert ("AMT-DUTY", "lines[2].customs_duty") in codes


def test_facts_belong_to_one_declaration_and_context() -> None:
    d, other = declaration(), declaration(transaction_number="10207003000596")
    with shared_facts(d, CONTEXT) as current:
        assert facts(d, CONTEXT) is current
        assert facts(other, CONTEXT) is not current  # another declaration: computed for the call
        assert facts(d, RuleContext()) is not current  # another context too
    assert facts(d, CONTEXT) is not current  # the scope is closed


def test_each_thread_sees_its_own_facts() -> None:
    d = declaration()
    seen: list[bool] = []
    with shared_facts(d, CONTEXT) as current:

        def elsewhere() -> None:
            seen.append(facts(d, CONTEXT) is current)

        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
    assert seen == [False]
