"""The rules share one resolution and one assessment per line within a check
(validators/rules/facts.py), and give the same findings as rules computing them alone."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import threading
from collections.abc import Iterator
from decimal import Decimal

import pytest

from domain import Declaration
from duties import assessment
from tests.builders import declaration, with_lines
from validators.rules import RULES, RuleContext, check_declaration
from validators.rules import facts as facts_module
from validators.rules.facts import SHARED, DeclarationFacts, facts

CONTEXT = RuleContext(today=dt.date(2025, 1, 16))


@contextlib.contextmanager
def _checking(d: Declaration, context: RuleContext) -> Iterator[DeclarationFacts]:
    """What ``check_declaration`` does around its rules: the declaration's facts shared."""
    current = DeclarationFacts(d, context)
    token = SHARED.set(current)
    try:
        yield current
    finally:
        SHARED.reset(token)


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
    real = assessment.line_amounts

    def counted(line, *arguments):
        calls.append(line.line_number)
        return real(line, *arguments)

    monkeypatch.setattr(facts_module, "line_amounts", counted)
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
    with _checking(d, CONTEXT) as current:
        assert facts(d, CONTEXT) is current
        assert facts(other, CONTEXT) is not current  # another declaration: computed for the call
        assert facts(d, RuleContext()) is not current  # another context too
    assert facts(d, CONTEXT) is not current  # the scope is closed


def test_each_thread_sees_its_own_facts() -> None:
    d = declaration()
    seen: list[bool] = []
    with _checking(d, CONTEXT) as current:

        def elsewhere() -> None:
            seen.append(facts(d, CONTEXT) is current)

        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
    assert seen == [False]


def test_the_filing_date_is_todays_in_toronto_and_turns_at_its_midnight(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a fixed date the rules file on today's date in Eastern time; the clock is read
    once per day, and the day after midnight Toronto time is the next one."""
    from validators.rules import base

    # 2025-03-09 was the day Toronto moved to EDT: midnight that night is 04:00 UTC on the 10th.
    midnight = dt.datetime(2025, 3, 10, 4, 0, tzinfo=dt.UTC).timestamp()
    monkeypatch.setattr(base, "_today_until", None)
    monkeypatch.setattr(base.time, "time", lambda: midnight - 1)
    assert RuleContext().filing_date == dt.date(2025, 3, 9)  # 23:59:59 EDT, 03:59:59 UTC on the 10th
    monkeypatch.setattr(base.time, "time", lambda: midnight)
    assert RuleContext().filing_date == dt.date(2025, 3, 10)
    monkeypatch.setattr(base.time, "time", lambda: midnight + 86_399)
    assert RuleContext().filing_date == dt.date(2025, 3, 10)
    monkeypatch.setattr(base.time, "time", lambda: midnight + 86_400)
    assert RuleContext().filing_date == dt.date(2025, 3, 11)


def test_business_days_are_counted_past_weekends_and_each_reference_data_s_holidays() -> None:
    reference = RuleContext().ref
    friday = dt.date(2025, 6, 27)  # 2025-07-01, a Tuesday, is Canada Day
    with_holiday = dataclasses.replace(reference, holidays=frozenset({dt.date(2025, 7, 1)}))
    without = dataclasses.replace(reference, holidays=frozenset())
    # Mon 30, (Tue 1 a holiday), Wed 2, Thu 3, Fri 4, Mon 7
    assert with_holiday.add_business_days(friday, 5) == dt.date(2025, 7, 7)
    assert without.add_business_days(friday, 5) == dt.date(2025, 7, 4)
    assert with_holiday.add_business_days(friday, 5) == dt.date(2025, 7, 7)  # asked again: the same


def test_a_treatment_is_found_under_every_spelling_of_its_code() -> None:
    reference = RuleContext().ref
    mfn = reference.treatments["2"]
    assert [reference.treatment(code) for code in ("2", "02", "002", "0002")] == [mfn] * 4
    assert reference.treatment("34") is reference.treatments["34"]
    assert reference.treatment("034") is reference.treatments["34"]
    assert [reference.treatment(code) for code in ("99", "099", "", "X2", "٢")] == [None] * 5


def test_remembered_tariff_rows_are_those_of_the_table_and_the_memory_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from duties import memo
    from duties import tariff as tariff_module
    from validators.reference_data import DEFAULT_DIRECTORY

    fresh = tariff_module.Tariff.load(DEFAULT_DIRECTORY / "tariff.csv")
    monkeypatch.setattr(memo, "LIMIT", 3)
    asked = [
        ("6109100010", "10", dt.date(2025, 1, 15)),
        ("6109100010", "010", dt.date(2025, 1, 15)),
        ("6109100010", "2", dt.date(2025, 1, 15)),
        ("6109100010", "2", dt.date(2019, 1, 1)),  # before the row applies: none
        ("9999999999", "2", dt.date(2025, 1, 15)),
    ]
    first = [fresh.row(*question) for question in asked]
    again = [fresh.row(*question) for question in reversed(asked)]
    assert first == list(reversed(again))
    assert first[0] is not None and first[0].treatment == "10" and first[1] is first[0]
    assert first[2] is not None and first[2].treatment == "*"
    assert first[3] is None and first[4] is None
    assert len(fresh._found) <= 3  # started again rather than grown


def test_remembered_surtax_orders_are_those_of_the_table_and_the_memory_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from duties import memo
    from duties.charges import Charges
    from validators.reference_data import DEFAULT_DIRECTORY

    fresh = Charges.load(DEFAULT_DIRECTORY)
    [order, *_] = fresh.surtax_orders
    origin, prefix = sorted(order.origins)[0], order.hs_prefixes[0]
    hs_code = prefix.ljust(10, "0")
    monkeypatch.setattr(memo, "LIMIT", 2)
    days = [order.valid_from - dt.timedelta(days=1), order.valid_from, order.valid_from + dt.timedelta(days=400)]
    first = [fresh.surtax_order(hs_code, origin, day) for day in days]
    again = [fresh.surtax_order(hs_code, origin, day) for day in reversed(days)]
    assert first == list(reversed(again))
    assert first[0] is None and first[1] is not None and first[2] is not None
    assert len(fresh._found_orders) <= 2  # started again rather than grown
