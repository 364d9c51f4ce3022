"""The C mapper (mappings/_cusdec_lines.c) against ``cusdec_fast._header`` and ``_lines``.

``cusdec_fast.plain_data`` maps the header with ``Mapper.header`` and the
detail section with ``Mapper.lines`` when the extension is built (and
``CARM_EDIFACT_ACCELERATOR`` is not "0"), with the Python ``_header`` and
``_lines`` otherwise. The Python code is the reference: ``plain_data`` must
give the same result either way, and on any header or detail section the C
mapper must give up exactly where the Python code does (raise _Unusual or
IndexError), raise what it raises, and otherwise build the same dicts (same
keys, order and value types), collect the same numbers and stop at the same
index.

Set ``CARM_REQUIRE_ACCELERATOR=1`` (CI, release builds) to make a missing
extension a failure instead of a skip.
"""

from __future__ import annotations

import gc
import operator
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mappings import cusdec_fast
from domain.checked_amounts import LINE_DIGIT_LIMITS
from mappings.cusdec_fast import PLAIN_AMOUNTS, TAX_AMOUNTS, plain_data
from parsers.edifact.model import Message, Segment
from tests.edifact_helpers import messages_of
from tests.test_cusdec_fast_mapping import BASE, FIXTURE_FILES, GARBAGE, GENERATED, _copy, mutated

needs_accelerator = pytest.mark.skipif(
    not cusdec_fast.accelerator_available(), reason="C detail-section mapper not built (pip install -e . builds it)"
)

BOUNDED = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_accelerator_is_built_when_required() -> None:
    if os.environ.get("CARM_REQUIRE_ACCELERATOR") == "1":
        assert cusdec_fast.accelerator_available(), (
            "CARM_REQUIRE_ACCELERATOR=1 but mappings._cusdec_lines is not importable: "
            "build it with `pip install -e .` (needs a C compiler and the Python headers)"
        )


@contextmanager
def accelerated(enabled: bool) -> Iterator[None]:
    was = cusdec_fast.use_accelerator(enabled)
    try:
        yield
    finally:
        cusdec_fast.use_accelerator(was)


def plain(message: Message, mark: str, enabled: bool) -> str:
    """``plain_data`` as text: repr shows the value types (Decimal, int, str)
    and the key order, and tells a NaN from another."""
    with accelerated(enabled):
        return repr(plain_data(message, mark))


def assert_same_plain_data(message: Message, mark: str) -> None:
    assert plain(message, mark, enabled=True) == plain(message, mark, enabled=False)


# plain_data, accelerator on and off -------------------------------------------


@needs_accelerator
def test_the_switch_changes_the_path(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def python_lines(*args: Any) -> None:
        calls.append(1)
        return original(*args)

    original = cusdec_fast._lines
    monkeypatch.setattr(cusdec_fast, "_lines", python_lines)
    message, mark = GENERATED[0]
    with accelerated(True):
        assert plain_data(message, mark) is not None
    assert calls == []
    with accelerated(False):
        assert plain_data(message, mark) is not None
    assert calls == [1]


@needs_accelerator
@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda path: path.name)
def test_fixture_messages_give_the_same_plain_data(path: Path) -> None:
    for message, mark in messages_of(path.read_bytes()):
        assert_same_plain_data(message, mark)


@needs_accelerator
def test_generated_messages_give_the_same_plain_data() -> None:
    for message, mark in GENERATED + BASE:
        assert plain_data(message, mark) is not None
        assert_same_plain_data(message, mark)


@needs_accelerator
@given(mutated())
@BOUNDED
def test_mutated_messages_give_the_same_plain_data(case: tuple[Message, str]) -> None:
    assert_same_plain_data(*case)


# The detail section alone: C against _lines ------------------------------------

Outcome = tuple[Any, ...] | None
"""None (gave up), ("raised", exception type), or (repr of the lines, numbers, next index)."""


def python_lines(segments: list[Segment], start: int) -> Outcome:
    rest = iter(segments)
    for _ in range(min(start, len(segments))):
        next(rest)
    lines: list[dict[str, Any]] = []
    numbers: list[str] = []
    try:
        cusdec_fast._lines(rest, lines, numbers)
    except (cusdec_fast._Unusual, IndexError):
        return None
    except Exception as error:  # InvalidOperation, int()'s ValueError: plain_data does not catch the latter
        return ("raised", type(error))
    return repr(lines), numbers, len(segments) - operator.length_hint(rest)


def kind(outcome: Outcome) -> str:
    return "gave up" if outcome is None else f"raised {outcome[1].__name__}" if outcome[0] == "raised" else "mapped"


def c_lines(segments: list[Segment], start: int, lines_function: Callable[..., Any] | None = None) -> Outcome:
    lines: list[dict[str, Any]] = []
    numbers: list[str] = []
    try:
        end = (lines_function or cusdec_fast._c_mapper.lines)(segments, start, lines, numbers)
    except Exception as error:
        return ("raised", type(error))
    return None if end is None else (repr(lines), numbers, end)


def detail(message: Message) -> list[Segment]:
    """UNS+D and what follows it (the index of its first CST is 1)."""
    segments = message.segments
    start = next(index for index, segment in enumerate(segments) if segment.tag == "UNS")
    return segments[start:]


def S(tag: str, *elements: list[str]) -> Segment:
    return Segment(tag, [list(values) for values in elements])


UNS_D = S("UNS", ["D"])
UNS_S = S("UNS", ["S"])
CST = S("CST", ["1"], ["6110110010"], ["2"])


@needs_accelerator
def test_the_sections_of_ordinary_messages_map_the_same() -> None:
    for message, _ in GENERATED + BASE:
        section = detail(message)
        found = c_lines(section, 1)
        assert found is not None and found[2] == section.index(UNS_S) + 1
        assert found == python_lines(section, 1)


CASES = {
    "no CST first": [UNS_D, S("FTX", ["AAA"], [], [], ["X"]), CST, UNS_S],
    "start past the end": [UNS_D],
    "no UNS+S": [UNS_D, CST, S("MOA", ["38", "1"])],
    "UNS+D again": [UNS_D, CST, UNS_D, UNS_S],
    "UNS without element": [UNS_D, CST, S("UNS")],
    "UNS with empty element": [UNS_D, CST, S("UNS", []), UNS_S],
    "line number ²": [UNS_D, S("CST", ["²"], ["1"], ["2"]), UNS_S],
    "line number ١": [UNS_D, S("CST", ["١"], ["1"], ["2"]), UNS_S],
    "line number 1.0": [UNS_D, S("CST", ["1.0"], ["1"], ["2"]), UNS_S],
    "line number 007": [UNS_D, S("CST", ["007"], [""], [""]), UNS_S],
    "line number beyond int()'s digits limit": [UNS_D, S("CST", ["9" * 5000], ["1"], ["2"]), UNS_S],
    "line number of 19 digits": [UNS_D, S("CST", ["9" * 19], ["1"], ["2"]), UNS_S],
    "line number of 18 digits": [UNS_D, S("CST", ["9" * 18], ["1"], ["2"]), UNS_S],
    "CST with two elements": [UNS_D, S("CST", ["1"], ["1"]), UNS_S],
    "CST with no number": [UNS_D, S("CST", [], ["1"], ["2"]), UNS_S],
    "CST with empty values": [UNS_D, S("CST", [""], [""], [""]), UNS_S],
    "MOA without amount": [UNS_D, CST, S("MOA", ["38"]), UNS_S],
    "MOA without qualifier": [UNS_D, CST, S("MOA", []), UNS_S],
    "MOA without element": [UNS_D, CST, S("MOA"), UNS_S],
    "MOA of another qualifier": [UNS_D, CST, S("MOA", ["124"]), UNS_S],
    "MOA+40 in USD": [UNS_D, CST, S("MOA", ["40", "1", "USD"]), UNS_S],
    "MOA+40 empty in USD": [UNS_D, CST, S("MOA", ["40", "", "USD"]), UNS_S],
    "MOA+40 in CAD": [UNS_D, CST, S("MOA", ["40", "1", "CAD"]), UNS_S],
    "MOA+40 in no currency": [UNS_D, CST, S("MOA", ["40", "1", ""]), UNS_S],
    "MOA+38 in USD": [UNS_D, CST, S("MOA", ["38", "1", "USD"]), UNS_S],
    "MOA+38 of 1e5": [UNS_D, CST, S("MOA", ["38", "1e5"]), UNS_S],
    "MOA+38 of garbage": [UNS_D, CST, S("MOA", ["38", "1,5"]), UNS_S],
    "MOA+38 of ١٢": [UNS_D, CST, S("MOA", ["38", "١٢"]), UNS_S],
    "MOA+38 twice": [UNS_D, CST, S("MOA", ["38", "1"]), S("MOA", ["38", "2.50"]), UNS_S],
    "MOA+124 after TAX+CUD": [UNS_D, CST, S("TAX", ["7"], ["CUD"]), S("MOA", ["124", "5"]), UNS_S],
    "MOA+38 after TAX+CUD": [UNS_D, CST, S("TAX", ["7"], ["CUD"]), S("MOA", ["38", "5"]), UNS_S],
    "MOA+125 after TAX+GST": [UNS_D, CST, S("TAX", ["7"], ["GST"]), S("MOA", ["125", "5"]), UNS_S],
    "MOA+38 after TAX+VAT": [UNS_D, CST, S("TAX", ["7"], ["VAT"]), S("MOA", ["38", "5"]), UNS_S],
    "MOA+38 after TAX without type": [UNS_D, CST, S("TAX", ["7"], [""]), S("MOA", ["38", "5"]), UNS_S],
    "MOA without amount after TAX+VAT": [UNS_D, CST, S("TAX", ["7"], ["VAT"]), S("MOA", ["38"]), UNS_S],
    "MOA+124 after a new CST": [UNS_D, CST, S("TAX", ["7"], ["EXC"]), CST, S("MOA", ["124", "5"]), UNS_S],
    "TAX without type": [UNS_D, CST, S("TAX", ["7"]), UNS_S],
    "TAX with an empty type element": [UNS_D, CST, S("TAX", ["7"], []), UNS_S],
    "TAX+CUD without rate": [UNS_D, CST, S("TAX", ["7"], ["CUD"], [""], [""], ["", "", ""]), UNS_S],
    "TAX+CUD with rate": [UNS_D, CST, S("TAX", ["7"], ["CUD"], [""], [""], ["", "", "", "6.5"]), UNS_S],
    "TAX+CUD with empty rate": [UNS_D, CST, S("TAX", ["7"], ["CUD"], [""], [""], ["", "", "", ""]), UNS_S],
    "TAX+CUD with rate NaN": [UNS_D, CST, S("TAX", ["7"], ["CUD"], [], [], ["", "", "", "NaN"]), UNS_S],
    "TAX+CUD with garbage rate": [UNS_D, CST, S("TAX", ["7"], ["CUD"], [], [], ["", "", "", "6,5"]), UNS_S],
    "TAX+GST with rate": [UNS_D, CST, S("TAX", ["7"], ["GST"], [""], [""], ["", "", "", "5"]), UNS_S],
    "FTX+AAA one part": [UNS_D, CST, S("FTX", ["AAA"], [""], [""], ["WIDGETS"]), UNS_S],
    "FTX+AAA parts": [UNS_D, CST, S("FTX", ["AAA"], [], [], ["", "ÉTÉ", "", "中文", "X"]), UNS_S],
    "FTX+AAA one non-empty part": [UNS_D, CST, S("FTX", ["AAA"], [], [], ["", "A", ""]), UNS_S],
    "FTX+AAA empty parts": [UNS_D, CST, S("FTX", ["AAA"], [], [], ["", ""]), UNS_S],
    "FTX+AAA no parts": [UNS_D, CST, S("FTX", ["AAA"], [], [], []), UNS_S],
    "FTX+AAA one empty part": [UNS_D, CST, S("FTX", ["AAA"], [], [], [""]), UNS_S],
    "FTX+AAA without text": [UNS_D, CST, S("FTX", ["AAA"]), UNS_S],
    "FTX+AAA astral parts": [UNS_D, CST, S("FTX", ["AAA"], [], [], ["😀", "ÿ", "a"]), UNS_S],
    "FTX+AAA latin-1 and ASCII parts": [UNS_D, CST, S("FTX", ["AAA"], [], [], ["ÿ", "a"]), UNS_S],
    "FTX+AAB without text": [UNS_D, CST, S("FTX", ["AAB"]), UNS_S],
    "FTX without element": [UNS_D, CST, S("FTX"), UNS_S],
    "LOC+27": [UNS_D, CST, S("LOC", ["27"], ["CN"]), UNS_S],
    "LOC+27 empty": [UNS_D, CST, S("LOC", ["27"], [""]), UNS_S],
    "LOC+27 without country": [UNS_D, CST, S("LOC", ["27"]), UNS_S],
    "LOC+22 without country": [UNS_D, CST, S("LOC", ["22"]), UNS_S],
    "MEA+AAE": [UNS_D, CST, S("MEA", ["AAE"], [""], ["KGM", "12.5"]), UNS_S],
    "MEA+AAE no unit": [UNS_D, CST, S("MEA", ["AAE"], [""], ["", "12.5"]), UNS_S],
    "MEA+AAE no quantity": [UNS_D, CST, S("MEA", ["AAE"], [""], ["KGM", ""]), UNS_S],
    "MEA+AAE one component": [UNS_D, CST, S("MEA", ["AAE"], [""], ["KGM"]), UNS_S],
    "MEA+AAE no measure": [UNS_D, CST, S("MEA", ["AAE"], [""]), UNS_S],
    "MEA+AAE empty measure": [UNS_D, CST, S("MEA", ["AAE"], [""], []), UNS_S],
    "MEA+ABC no measure": [UNS_D, CST, S("MEA", ["ABC"]), UNS_S],
    # digit limits: amounts (16, 2), quantity and rate (12, 6), after leading and before trailing zeros
    "MOA+38 of 16 integer digits, 2 places": [UNS_D, CST, S("MOA", ["38", "9" * 16 + ".99"]), UNS_S],
    "MOA+38 of 17 integer digits": [UNS_D, CST, S("MOA", ["38", "1" + "0" * 16]), UNS_S],
    "MOA+38 of 3 places": [UNS_D, CST, S("MOA", ["38", "1.005"]), UNS_S],
    "MOA+38 of 2 places and trailing zeros": [UNS_D, CST, S("MOA", ["38", "0001.0500"]), UNS_S],
    "MOA+38 of zeros": [UNS_D, CST, S("MOA", ["38", "000.000"]), UNS_S],
    "MOA+38 of .5": [UNS_D, CST, S("MOA", ["38", ".5"]), UNS_S],
    "MOA+38 of 5.": [UNS_D, CST, S("MOA", ["38", "5."]), UNS_S],
    "MOA+38 of -5": [UNS_D, CST, S("MOA", ["38", "-5"]), UNS_S],
    "MOA+38 of +5": [UNS_D, CST, S("MOA", ["38", "+5"]), UNS_S],
    "MOA+38 of 5 with a space": [UNS_D, CST, S("MOA", ["38", " 5"]), UNS_S],
    "MOA+124 of 3 places after TAX+GST": [UNS_D, CST, S("TAX", ["7"], ["GST"]), S("MOA", ["124", "0.125"]), UNS_S],
    "MOA+38 of 3 places after TAX+VAT": [UNS_D, CST, S("TAX", ["7"], ["VAT"]), S("MOA", ["38", "0.125"]), UNS_S],
    "TAX+CUD with rate of 6 places": [UNS_D, CST, S("TAX", ["7"], ["CUD"], [], [], ["", "", "", "6.123456"]), UNS_S],
    "TAX+CUD with rate of 7 places": [UNS_D, CST, S("TAX", ["7"], ["CUD"], [], [], ["", "", "", "6.1234567"]), UNS_S],
    "MEA+AAE of 12 integer digits": [UNS_D, CST, S("MEA", ["AAE"], [""], ["KGM", "9" * 12 + ".5"]), UNS_S],
    "MEA+AAE of 13 integer digits": [UNS_D, CST, S("MEA", ["AAE"], [""], ["KGM", "9" * 13]), UNS_S],
    "MEA+AAE of 7 places": [UNS_D, CST, S("MEA", ["AAE"], [""], ["KGM", "1.0000001"]), UNS_S],
    "other segments are not read": [UNS_D, CST, S("GIS"), S("DTM", []), S("UN"), S("MOAX"), UNS_S],
    "summary after": [UNS_D, CST, UNS_S, S("CNT", ["5", "1"]), S("UNT", ["5", "M1"])],
}


@needs_accelerator
@pytest.mark.parametrize("name", CASES)
def test_cases(name: str) -> None:
    section = [_copy(segment) for segment in CASES[name]]
    assert c_lines(section, 1) == python_lines(section, 1)


@needs_accelerator
def test_a_few_cases_as_expected() -> None:
    """The reference agrees with what the cases are about."""
    assert python_lines(CASES["no CST first"], 1) is None
    assert python_lines(CASES["MOA+40 in USD"], 1) is None
    assert python_lines(CASES["MOA+38 of garbage"], 1) == ("raised", InvalidOperation)
    assert python_lines(CASES["line number beyond int()'s digits limit"], 1) == ("raised", ValueError)
    for fits in ("MOA+38 of 16 integer digits, 2 places", "MOA+38 of 2 places and trailing zeros", "MOA+38 of zeros",
                 "MOA+38 of 3 places after TAX+VAT", "TAX+CUD with rate of 6 places", "MEA+AAE of 12 integer digits"):
        assert python_lines(CASES[fits], 1) is not None, fits
    for too_long in ("MOA+38 of 17 integer digits", "MOA+38 of 3 places", "MOA+124 of 3 places after TAX+GST",
                     "TAX+CUD with rate of 7 places", "MEA+AAE of 13 integer digits", "MEA+AAE of 7 places"):
        assert python_lines(CASES[too_long], 1) is None, too_long
    line = "{'line_number': 1, 'hs_code': '6110110010', 'tariff_treatment': '2'}"
    assert python_lines(CASES["summary after"], 1) == (f"[{line}]", [], 3)


@needs_accelerator
def test_other_objects_are_left_to_python() -> None:
    """Conservative: what the reader never builds makes the C mapper give up."""

    class Sub(Segment):
        __slots__ = ()

    odd = [
        [UNS_D, Sub("CST", [["1"], ["1"], ["2"]]), UNS_S],
        [UNS_D, CST, Sub("UNS", [["S"]])],
        [UNS_D, CST, Segment("MOA", [("38", "1")]), UNS_S],  # type: ignore[list-item]
        [UNS_D, CST, Segment("MOA", (["38", "1"],)), UNS_S],  # type: ignore[arg-type]
        [UNS_D, CST, Segment(None, []), UNS_S],  # type: ignore[arg-type]
        [UNS_D, CST, Segment("LOC", [["27"], [b"CN"]]), UNS_S],  # type: ignore[list-item]
        [UNS_D, CST, None, UNS_S],
    ]
    for section in odd:
        assert c_lines(section, 1) is None  # type: ignore[arg-type]
    unset = Segment.__new__(Segment)
    assert c_lines([UNS_D, CST, unset, UNS_S], 1) is None


@needs_accelerator
def test_arguments_are_checked() -> None:
    with pytest.raises(TypeError):
        cusdec_fast._c_mapper.lines(tuple(CASES["summary after"]), 1, [], [])  # type: ignore[arg-type,misc]
    with pytest.raises(ValueError):
        cusdec_fast._c_mapper.lines([], -1, [], [])  # type: ignore[misc]
    with pytest.raises(TypeError):
        cusdec_fast._c_mapper.lines([], 0, [])  # type: ignore[call-arg,misc]
    from mappings import _cusdec_lines

    with pytest.raises(TypeError):
        _cusdec_lines.Mapper(object, Decimal, PLAIN_AMOUNTS, TAX_AMOUNTS, LINE_DIGIT_LIMITS)
    with pytest.raises(TypeError):
        _cusdec_lines.Mapper(Segment, Decimal, {"38": 1}, TAX_AMOUNTS, LINE_DIGIT_LIMITS)
    with pytest.raises(TypeError):
        _cusdec_lines.Mapper(Segment, Decimal, PLAIN_AMOUNTS, {"CUD": {1: "x"}}, LINE_DIGIT_LIMITS)
    with pytest.raises(TypeError):
        _cusdec_lines.Mapper(Segment, Decimal, PLAIN_AMOUNTS, TAX_AMOUNTS)
    for limits in ([("gst", (16, 2))], {"gst": (16,)}, {"gst": [16, 2]}, {"gst": (16, -1)}, {"gst": (256, 2)}, {1: (16, 2)}, {"gst": ("16", 2)}):
        with pytest.raises((TypeError, ValueError)):
            _cusdec_lines.Mapper(Segment, Decimal, PLAIN_AMOUNTS, TAX_AMOUNTS, limits)


@needs_accelerator
def test_the_amount_tables_are_the_python_ones() -> None:
    """The C mapper maps the field names of the tables it was given."""
    from mappings import _cusdec_lines

    tables = {"CUD": {"124": "duty"}, "XYZ": {"38": "odd"}}
    mapper = _cusdec_lines.Mapper(Segment, Decimal, {"38": "plain"}, tables, {})
    section = [UNS_D, CST, S("MOA", ["38", "1"]), S("TAX", [], ["XYZ"]), S("MOA", ["38", "2"]), UNS_S]
    found = c_lines(section, 1, mapper.lines)
    assert found is not None and "'plain': Decimal('1'), 'odd': Decimal('2')" in found[0]


@needs_accelerator
def test_the_digit_limits_are_the_ones_given() -> None:
    """The C mapper checks the fields ``digit_limits`` names, against their limits."""
    from mappings import _cusdec_lines

    section = [UNS_D, CST, S("MOA", ["38", "123.45"]), S("MEA", ["AAE"], [""], ["KGM", "123.45"]), UNS_S]
    for limits, maps in [
        ({}, True),
        ({"invoice_amount": (3, 2), "quantity": (3, 2)}, True),
        ({"invoice_amount": (3, 2), "quantity": (2, 2)}, False),
        ({"invoice_amount": (3, 1)}, False),
        ({"invoice_amount": (0, 9)}, False),
        ({"unit": (0, 0)}, True),  # a text field: never read as a number
    ]:
        mapper = _cusdec_lines.Mapper(Segment, Decimal, PLAIN_AMOUNTS, TAX_AMOUNTS, limits)
        found = c_lines(section, 1, mapper.lines)
        assert (found is not None) is maps, limits
        if found is not None:  # only the numbers of fields without limits are left to check
            assert found[1] == [text for text, field in [("123.45", "invoice_amount"), ("123.45", "quantity")] if field not in limits]


# Python code run during the walk ------------------------------------------------


def _changing_section() -> list[Segment]:
    return [
        UNS_D, CST, S("MOA", ["40", "1", "USD"]), S("MOA", ["38", "2"]),
        S("TAX", [], ["CUD"], [], [], ["", "", "", "3"]), S("MEA", ["AAE"], [], ["KGM", "4"]), UNS_S,
    ]


def _changed_outcome(what: str, index: int, python: bool, monkeypatch: pytest.MonkeyPatch) -> Outcome:
    """The outcome on ``_changing_section()`` when every Decimal() first changes
    ``what`` (segment ``index``'s components or elements, or the list of
    segments) or runs the garbage collector."""
    segments = _changing_section()
    target = segments[index]
    actions: dict[str, Callable[[], object]] = {
        "segments": segments.clear,
        "values": lambda: [values.clear() for values in target.elements],
        "elements": lambda: setattr(target, "elements", [["X"]]),
        "gc": gc.collect,
    }

    def convert(raw: str) -> Decimal:
        actions[what]()
        return Decimal(raw)

    if python:
        with monkeypatch.context() as patch:
            patch.setattr(cusdec_fast, "Decimal", convert)
            return python_lines(segments, 1)
    from mappings import _cusdec_lines

    return c_lines(segments, 1, _cusdec_lines.Mapper(Segment, convert, PLAIN_AMOUNTS, TAX_AMOUNTS, LINE_DIGIT_LIMITS).lines)


@needs_accelerator
@pytest.mark.parametrize("what", ["segments", "values", "elements", "gc"])
def test_python_code_in_decimal_may_change_the_segments(what: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The C mapper follows such changes as the Python loop does (and does not
    crash: the tests are also run on a build with sanitizers)."""
    for index in range(2, 6):
        expected = _changed_outcome(what, index, True, monkeypatch)
        assert _changed_outcome(what, index, False, monkeypatch) == expected


# Mutated detail sections ----------------------------------------------------------

SECTIONS = [detail(message) for message, _ in GENERATED + BASE]
TAGS = ["CST", "MOA", "TAX", "FTX", "LOC", "MEA", "UNS", "GIS", "CNT", "DTM", "RFF"]
QUALIFIERS = ["38", "40", "124", "125", "AAA", "AAB", "27", "22", "AAE", "S", "D", "7", ""]
VALUES = st.one_of(
    GARBAGE,
    st.sampled_from(
        ["²", "١", "١٢", "٣.٥", "1" * 4301, "0" * 30, "EUR", "cad", " CAD", "CAD ", "VAT", "XYZ", "cud", "😀"]
    ),
)


def _pick(draw: st.DrawFn, segments: list[Segment], tag: str | None = None) -> Segment | None:
    candidates = [segment for segment in segments[1:] if tag is None or segment.tag == tag]
    return draw(st.sampled_from(candidates)) if candidates else None


def _set(segment: Segment, element: int, component: int, value: str) -> None:
    """elements[element][component] = value, adding empty elements and components as needed."""
    while len(segment.elements) <= element:
        segment.elements.append([])
    values = segment.elements[element]
    while len(values) <= component:
        values.append("")
    values[component] = value


@st.composite
def sections(draw: st.DrawFn) -> tuple[list[Segment], int]:
    segments = [_copy(segment) for segment in draw(st.sampled_from(SECTIONS))]
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(
            st.sampled_from(
                ["drop", "duplicate", "swap", "value", "value", "truncate elements", "truncate components", "tag",
                 "qualifier", "tax type", "currency", "number"]
            )
        )
        segment = _pick(draw, segments)
        if segment is None:
            break
        if kind == "drop":
            segments.remove(segment)
        elif kind == "duplicate":
            segments.insert(draw(st.integers(1, len(segments))), _copy(segment))
        elif kind == "swap":
            other = _pick(draw, segments)
            i, j = segments.index(segment), segments.index(other)  # type: ignore[arg-type]
            segments[i], segments[j] = segments[j], segments[i]
        elif kind == "truncate elements":
            segment.elements = segment.elements[: draw(st.integers(0, len(segment.elements)))]
        elif kind == "truncate components" and segment.elements:
            element = draw(st.integers(0, len(segment.elements) - 1))
            values = segment.elements[element]
            segment.elements[element] = values[: draw(st.integers(0, len(values)))]
        elif kind == "tag":
            segment.tag = draw(st.sampled_from(TAGS))
        elif kind == "qualifier":
            _set(segment, 0, 0, draw(st.sampled_from(QUALIFIERS)))
        elif kind == "tax type" and (tax := _pick(draw, segments, "TAX")) is not None:
            _set(tax, 1, 0, draw(st.sampled_from(["", "CUD", "GST", "EXC", "VAT", "cud", "XYZ", "CUD "])))
        elif kind == "currency" and (moa := _pick(draw, segments, "MOA")) is not None:
            _set(moa, 0, 2, draw(st.sampled_from(["", "CAD", "USD", "cad", "CAD "])))
        elif kind == "number" and (found := _pick(draw, segments, draw(st.sampled_from(["CST", "MOA", "TAX", "MEA"])))):
            place = {"CST": (0, 0), "MOA": (0, 1), "TAX": (4, 3), "MEA": (2, 1)}[found.tag]
            _set(found, *place, draw(VALUES))
        else:
            if segment.elements:
                element = draw(st.integers(0, len(segment.elements)))
                component = draw(st.integers(0, 4))
                _set(segment, element, component, draw(VALUES))
    return segments, draw(st.sampled_from([1, 1, 1, 1, 0, 2]))


@needs_accelerator
@given(sections())
@BOUNDED
def test_mutated_sections_map_the_same(case: tuple[list[Segment], int]) -> None:
    segments, start = case
    expected = python_lines(segments, start)
    event(kind(expected))
    assert c_lines(segments, start) == expected


SYNTHETIC_SEGMENT = st.builds(
    lambda tag, elements: Segment(tag, elements),
    st.sampled_from(TAGS),
    st.lists(st.lists(st.one_of(st.sampled_from(QUALIFIERS), VALUES), max_size=5), max_size=6),
)


@needs_accelerator
@given(st.lists(SYNTHETIC_SEGMENT, max_size=12), st.booleans(), st.sampled_from([1, 1, 1, 0, 2]))
@BOUNDED
def test_synthetic_sections_map_the_same(segments: list[Segment], framed: bool, start: int) -> None:
    segments = [UNS_D, CST, *segments, UNS_S] if framed else [UNS_D, *segments]
    expected = python_lines(segments, start)
    event(kind(expected))
    assert c_lines(segments, start) == expected


# The header alone: C (Mapper.header) against _header ----------------------------


def python_header(segments: list[Segment]) -> Outcome:
    data: dict[str, Any] = {"lines": []}
    numbers: list[str] = []
    try:
        end = cusdec_fast._header(iter(segments), data, numbers)
    except (cusdec_fast._Unusual, IndexError):
        return None
    except Exception as error:  # InvalidOperation of a number
        return ("raised", type(error))
    return repr(data), numbers, end


def c_header(segments: list[Segment]) -> Outcome:
    data: dict[str, Any] = {"lines": []}
    numbers: list[str] = []
    try:
        end = cusdec_fast._c_mapper.header(segments, data, numbers)
    except Exception as error:
        return ("raised", type(error))
    return None if end is None else (repr(data), numbers, end)


UNH = S("UNH", ["1"], ["CUSDEC", "D", "96B", "UN", "CAD01"])
BGM = S("BGM", ["929"], ["1020700030001400001"], ["9"])
DOC = S("DOC", ["380"], ["INV-1"])
MOA39 = S("MOA", ["39", "100.00", "USD"])
HEADER_CASES: dict[str, list[Segment]] = {
    "ordinary": [UNH, BGM, S("CST", [""], ["AB"]), S("LOC", ["22"], ["0497"]), S("DTM", ["271", "20250115", "102"]),
                 S("RFF", ["ABE", "BRK-1"]), DOC, S("DTM", ["3", "20250110", "102"]),
                 S("NAD", ["IM"], ["123456782RM0001"], [""], ["SOCIÉTÉ"]), MOA39, S("CUX", ["2", "USD", "4"], ["3", "CAD"], ["1.35"]),
                 UNS_D],
    "no UNS+D": [UNH, BGM],
    "UNS+S first": [UNH, UNS_S, UNS_D],
    "UNS without element": [UNH, S("UNS"), UNS_D],
    "UNS with an empty value": [UNH, S("UNS", [""]), UNS_D],
    "BGM 1001 not 929": [UNH, S("BGM", ["380"], ["1020700030001400001"]), UNS_D],
    "BGM reference of 18 digits": [UNH, S("BGM", ["929"], ["102070003000140000"]), UNS_D],
    "BGM reference of other digits": [UNH, S("BGM", ["929"], ["١" * 19]), UNS_D],
    "BGM without reference element": [UNH, S("BGM", ["929"]), UNS_D],
    "BGM empty reference, no function": [UNH, S("BGM", ["929"], [""], [""]), UNS_D],
    "DTM format 203": [UNH, S("DTM", ["271", "20250115", "203"]), UNS_D],
    "DTM format 203, 12 digits": [UNH, S("DTM", ["271", "202501151200", "203"]), UNS_D],
    "DTM format empty": [UNH, S("DTM", ["271", "20250115", ""]), UNS_D],
    "DTM format missing": [UNH, S("DTM", ["271", "20250115"]), UNS_D],
    "DTM not a calendar date": [UNH, S("DTM", ["271", "20250230", "102"]), UNS_D],
    "DTM year 0": [UNH, S("DTM", ["271", "00000115", "102"]), UNS_D],
    "DTM of Arabic-Indic digits": [UNH, S("DTM", ["271", "٢٠٢٥٠١١٥", "102"]), UNS_D],
    "DTM of superscript digits": [UNH, S("DTM", ["271", "²0250115", "102"]), UNS_D],
    "DTM of 7 digits": [UNH, S("DTM", ["271", "2025011", "102"]), UNS_D],
    "DTM without date": [UNH, S("DTM", ["271"]), UNS_D],
    "DTM+3 after DOC+380, a DTM between": [UNH, DOC, S("DTM", ["271", "20250115"]), S("DTM", ["3", "20250110"]), UNS_D],
    "DTM+3 after DOC+380, UNT between": [UNH, DOC, S("UNT", ["9"]), S("DTM", ["3", "20250110"]), UNS_D],
    "DTM+3 after DOC+999": [UNH, S("DOC", ["999"], ["X"]), S("DTM", ["3", "20250110"]), UNS_D],
    "DTM+3 after another segment": [UNH, DOC, S("GIS", ["1"]), S("DTM", ["3", "20250110"]), UNS_D],
    "DTM+3 first": [UNH, S("DTM", ["3", "20250110"]), UNS_D],
    "DOC+380 without number": [UNH, S("DOC", ["380"], [""]), UNS_D],
    "DOC+380 without number element": [UNH, S("DOC", ["380"]), UNS_D],
    "FTX+CHG": [UNH, S("FTX", ["CHG"], [""], ["ADJ"], ["R1", "FIRST", "", "SECOND"]), UNS_D],
    "FTX+CHG reason only": [UNH, S("FTX", ["CHG"], [""], [""], ["R1"]), UNS_D],
    "FTX+CHG explanation only": [UNH, S("FTX", ["CHG"], [""], ["COR"], ["", "WHY"]), UNS_D],
    "FTX+CHG without text": [UNH, S("FTX", ["CHG"], [""], ["ADJ"]), UNS_D],
    "FTX+CHG without change element": [UNH, S("FTX", ["CHG"]), UNS_D],
    "FTX+AAA in the header": [UNH, S("FTX", ["AAA"], [""], [""], ["X"]), UNS_D],
    "RFF+ABE without value": [UNH, S("RFF", ["ABE"]), UNS_D],
    "RFF+CN": [UNH, S("RFF", ["CN", "CCN-12345"]), UNS_D],
    "RFF+ZZZ without value": [UNH, S("RFF", ["ZZZ"]), UNS_D],
    "NAD+IM of two elements": [UNH, S("NAD", ["IM"], ["123456782RM0001"]), UNS_D],
    "NAD+DT empty name": [UNH, S("NAD", ["DT"], ["123026635RM0001"], [""], [""]), UNS_D],
    "NAD+SE in full": [UNH, S("NAD", ["SE"], [""], [""], ["N"], ["S"], ["C"], [""], ["P"], ["DE"]), UNS_D],
    "NAD+SE with an empty element": [UNH, S("NAD", ["SE"], [""], [""], ["N"], []), UNS_D],
    "NAD+XX": [UNH, S("NAD", ["XX"], ["1"]), UNS_D],
    "two NAD+IM": [UNH, S("NAD", ["IM"], ["A"], [""], ["N1"]), S("NAD", ["IM"], ["B"]), UNS_D],
    "MOA+39 without currency": [UNH, S("MOA", ["39", "1"]), UNS_D],
    "MOA+39 empty amount": [UNH, S("MOA", ["39", "", "USD"]), UNS_D],
    "MOA+39 of 1e5": [UNH, S("MOA", ["39", "1e5", "USD"]), UNS_D],
    "MOA+39 not a number": [UNH, S("MOA", ["39", "ABC", "USD"]), UNS_D],
    "two CUX after MOA+39": [UNH, MOA39, S("CUX", ["2", "USD"], [""], ["1.35"]), S("CUX", ["2", "EUR"], [""], ["2"]), UNS_D],
    "CUX of another currency": [UNH, MOA39, S("CUX", ["2", "EUR"], [""], ["1.5"]), UNS_D],
    "CUX of no currency": [UNH, MOA39, S("CUX", ["2", ""], [""], ["1.5"]), UNS_D],
    "CUX without currency component": [UNH, MOA39, S("CUX", ["2"], [""], ["1.5"]), UNS_D],
    "CUX without rate element": [UNH, MOA39, S("CUX", ["2", "USD"]), UNS_D],
    "CUX not after MOA+39": [UNH, MOA39, S("GIS", ["1"]), S("CUX", ["2", "EUR"], [""], ["1.5"]), UNS_D],
    "CUX after MOA+39 of no currency": [UNH, S("MOA", ["39", "1", ""]), S("CUX", ["2", "EUR"], [""], ["1.5"]), UNS_D],
    "LOC+22 without place": [UNH, S("LOC", ["22"]), UNS_D],
    "LOC+27 in the header": [UNH, S("LOC", ["27"]), UNS_D],
    "CST without type element": [UNH, S("CST", [""]), UNS_D],
    "an empty element list": [UNH, S("BGM"), UNS_D],
    "a tag of two characters": [UNH, S("BG", ["929"]), UNS_D],
}


@needs_accelerator
@pytest.mark.parametrize("name", HEADER_CASES)
def test_header_cases(name: str) -> None:
    segments = HEADER_CASES[name]
    expected = python_header(segments)
    assert c_header(segments) == expected


@needs_accelerator
def test_a_few_header_cases_as_expected() -> None:
    """Hand-written outcomes, so that the comparison above cannot pass by both sides giving up."""
    import datetime as dt

    assert c_header(HEADER_CASES["DTM format 203"]) is None
    assert c_header(HEADER_CASES["DTM not a calendar date"]) is None
    assert c_header(HEADER_CASES["BGM 1001 not 929"]) is None
    arabic = c_header(HEADER_CASES["DTM of Arabic-Indic digits"])
    assert arabic is not None and repr(dt.date(2025, 1, 15)) in arabic[0]
    found = c_header(HEADER_CASES["ordinary"])
    assert found is not None
    assert found[1:] == (["100.00", "1.35"], 12)
    assert found[0] == repr(
        {
            "lines": [], "transaction_number": "10207000300014", "version": 1, "function": "9", "type_code": "AB",
            "office_of_release": "0497", "release_date": dt.date(2025, 1, 15), "filer_reference": "BRK-1",
            "invoice": {"number": "INV-1", "issue_date": dt.date(2025, 1, 10), "total_amount": Decimal("100.00")},
            "importer": {"account": "123456782RM0001", "name": "SOCIÉTÉ"}, "currency": "USD",
            "exchange_rate": Decimal("1.35"),
        }
    )
    amendment = c_header(HEADER_CASES["FTX+CHG"])
    assert amendment is not None
    assert "{'reason_code': 'R1', 'explanation': 'FIRST SECOND', 'kind': 'adjustment'}" in amendment[0]
    assert c_header(HEADER_CASES["MOA+39 not a number"]) == ("raised", InvalidOperation)
    two = c_header(HEADER_CASES["two CUX after MOA+39"])
    assert two is not None and "'exchange_rate': Decimal('1.35')" in two[0]


HEADER_TAGS = ["BGM", "CST", "LOC", "DTM", "FTX", "RFF", "DOC", "NAD", "MOA", "CUX", "UNS", "UNH", "UNT", "GIS", "BG"]
HEADER_QUALIFIERS = ["929", "271", "3", "102", "203", "380", "39", "22", "CHG", "ADJ", "ABE", "CN", "IM", "DT", "SE", "D",
                     "USD", "EUR", "20250115", "20250230", "٢٠٢٥٠١١٥", "1020700030001400001", ""]
HEADER_SEGMENT = st.builds(
    lambda tag, elements: Segment(tag, elements),
    st.sampled_from(HEADER_TAGS),
    st.lists(st.lists(st.one_of(st.sampled_from(HEADER_QUALIFIERS), VALUES), max_size=5), max_size=9),
)


@needs_accelerator
@given(st.lists(st.one_of(HEADER_SEGMENT, st.sampled_from([s for case in HEADER_CASES.values() for s in case])), max_size=14))
@BOUNDED
def test_synthetic_headers_map_the_same(segments: list[Segment]) -> None:
    segments = [*segments, UNS_D]
    expected = python_header(segments)
    event(kind(expected))
    assert c_header(segments) == expected


@needs_accelerator
def test_header_arguments_are_checked() -> None:
    with pytest.raises(TypeError):
        cusdec_fast._c_mapper.header((UNH, UNS_D), {}, [])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        cusdec_fast._c_mapper.header([UNH, UNS_D], [], [])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        cusdec_fast._c_mapper.header([UNH, UNS_D], {})  # type: ignore[call-arg]
    from mappings import _cusdec_lines

    with pytest.raises(TypeError):
        _cusdec_lines.Mapper(Segment, Decimal, PLAIN_AMOUNTS, TAX_AMOUNTS, LINE_DIGIT_LIMITS, "not callable")
    without = _cusdec_lines.Mapper(Segment, Decimal, PLAIN_AMOUNTS, TAX_AMOUNTS, LINE_DIGIT_LIMITS)
    # without date_102, a date that is not 8 ASCII digits gives up (conservative)
    assert without.header(HEADER_CASES["DTM of Arabic-Indic digits"], {"lines": []}, []) is None
    assert without.header(HEADER_CASES["ordinary"], {"lines": []}, []) == 12
