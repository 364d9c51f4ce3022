"""The C content check (validators/directory/_content.c) against the Python checks.

``DirectoryValidator.validate`` asks the C check which segments might be
wrong and runs the Python checks (content.py) on those only; without the
extension (or with ``CARM_EDIFACT_ACCELERATOR=0``) the Python loop checks
every segment. The Python checks are the reference here: findings must be the
same either way, and a segment the C check calls clean must be one the slow
path (``SegmentCheck.findings``) finds nothing on.

Set ``CARM_REQUIRE_ACCELERATOR=1`` (CI, release builds) to make a missing
extension a failure instead of a skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diagnostics import Finding
from parsers.edifact import reader
from parsers.edifact.model import Delimiters, Message, Segment
from tests.edifact_helpers import CUSDEC, FIXTURES, messages_of
from tests.test_samples_corpus import SAMPLES
from validators.directory import validator
from validators.directory.content import compile_segment, content_spec
from validators.directory.definitions import Directory, ElementDef, SegmentDef, Slot, load_directory, parse_directory

needs_accelerator = pytest.mark.skipif(
    not validator.accelerator_available(), reason="C content check not built (pip install -e . builds it)"
)

DIRECTORY = load_directory()
SPEC = content_spec(DIRECTORY.segments, DIRECTORY.codes)
MARKS = (".", ",")
BOUNDED = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_accelerator_is_built_when_required() -> None:
    if os.environ.get("CARM_REQUIRE_ACCELERATOR") == "1":
        assert validator.accelerator_available(), (
            "CARM_REQUIRE_ACCELERATOR=1 but validators.directory._content is not importable: "
            "build it with `pip install -e .` (needs a C compiler and the Python headers)"
        )


@contextmanager
def accelerated(enabled: bool) -> Iterator[None]:
    was = validator.use_accelerator(enabled)
    try:
        yield
    finally:
        validator.use_accelerator(was)


def findings(message: Message, decimal: str, enabled: bool) -> list[Finding]:
    with accelerated(enabled):
        return validator.validate_message(message, decimal)


def assert_same_findings(message: Message, decimal: str) -> None:
    python = findings(message, decimal, enabled=False)
    assert findings(message, decimal, enabled=True) == python


def suspects(segments: list[Segment], decimal: str = ".", directory: Directory = DIRECTORY) -> list[int]:
    from validators.directory import _content

    spec = SPEC if directory is DIRECTORY else content_spec(directory.segments, directory.codes)
    return _content.Checker(Segment, spec, decimal).suspects(segments)


def slow_findings(segment: Segment, decimal: str, directory: Directory = DIRECTORY) -> list[Finding]:
    check = compile_segment(directory.segments[segment.tag], directory.codes, decimal)
    return check.findings(segment, 1, "1")


# Whole messages: fixtures, samples, the benchmark's CUSDEC --------------------------


def _edifact_files() -> list[Path]:
    files = sorted(p for p in FIXTURES.rglob("*") if p.is_file() and p.suffix.lower() in {".edi", ".txt", ".edifact"})
    samples = SAMPLES / "edifact"
    return files + (sorted(p for p in samples.iterdir() if p.is_file()) if samples.is_dir() else [])


def _read(data: bytes, c_reader: bool) -> list[tuple[Message, str]]:
    """Messages read by the C tokenizer (``Segment.text`` kept) or by the Python reader (joined path)."""
    was = reader.use_accelerator(c_reader)
    try:
        return messages_of(data)
    finally:
        reader.use_accelerator(was)


@needs_accelerator
@pytest.mark.parametrize("c_reader", [True, False], ids=["text", "joined"])
@pytest.mark.parametrize("path", _edifact_files(), ids=lambda p: str(p.relative_to(p.parents[1])))
def test_same_findings_on_every_file(path: Path, c_reader: bool) -> None:
    for message, decimal in _read(path.read_bytes(), c_reader):
        assert_same_findings(message, decimal)


@pytest.fixture(scope="module")
def benchmark_cusdec(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    from tests.varied_cusdec import generate

    path = tmp_path_factory.mktemp("bench") / "cusdec.edi"
    generate(path, 150_000)
    return path.read_bytes()


@needs_accelerator
@pytest.mark.parametrize("c_reader", [True, False], ids=["text", "joined"])
def test_same_findings_on_the_benchmark_cusdec(benchmark_cusdec: bytes, c_reader: bool) -> None:
    messages = _read(benchmark_cusdec, c_reader)
    assert len(messages) > 20
    for message, decimal in messages:
        assert_same_findings(message, decimal)


@needs_accelerator
def test_a_valid_cusdec_has_no_suspects(benchmark_cusdec: bytes) -> None:
    """The fast path is taken: no segment of a valid message goes to Python."""
    for message, decimal in _read(benchmark_cusdec, c_reader=True)[:50]:
        assert len(message.segments) > 40
        assert suspects(message.segments, decimal) == []
        assert findings(message, decimal, enabled=True) == []


@needs_accelerator
def test_same_findings_with_the_other_decimal_mark(benchmark_cusdec: bytes) -> None:
    """Amounts with "." in an interchange whose mark is ",": every MOA is wrong (19)."""
    message, _ = _read(benchmark_cusdec, c_reader=True)[0]
    assert findings(message, ",", enabled=True) == findings(message, ",", enabled=False) != []


# Single segments: random and valid-looking ------------------------------------------

TAGS = sorted(SPEC)
_ALPHABET = "0123456789-.,ABCXYZaz é€Δ\u4e00?'+:"
_TRICKY = [
    "",
    "6",
    "5",
    "9",
    "-",
    "-1",
    "1.5",
    "1,5",
    ".5",
    "5.",
    "-.5",
    "1.2.3",
    "1,2.3",
    "0",
    "A",
    "1A",
    "X" * 36,
    "9" * 19,
    "é",
    "\u4e00",
    "1\ud800",
    "AB\ud801",
]


def _codes_of(slot: Slot) -> list[str]:
    elements = [slot.element] if slot.composite is None else [c.element for c in slot.composite.components]
    found: list[str] = []
    for element in elements:
        assert element is not None
        found += sorted(DIRECTORY.codes.get(element.number, ()))[:40]
    return found


def _values(slot: Slot) -> st.SearchStrategy[str]:
    """Any value for an element: codes of its lists, tricky values, random text."""
    codes = _codes_of(slot)
    return st.one_of(
        st.sampled_from(_TRICKY),
        st.text(alphabet=_ALPHABET, max_size=12),
        *([st.sampled_from(codes)] if codes else []),
    )


def _at_the_limits(element: ElementDef, mark: str) -> st.SearchStrategy[str]:
    """A value at or just past an element's length limits: letters, non-Latin
    text, digits, with a sign or a decimal mark (neither counted in a length)."""
    lengths = {element.min_length - 1, element.min_length, element.max_length, element.max_length + 1}
    values: list[str] = []
    for length in sorted(n for n in lengths if n > 0):
        digits = "7" * (length - 1)
        values += ["A" * length, "\u4e00" * length, digits + "7", "-" + digits + "7", digits + mark + "5"]
    return st.sampled_from(values)


def _element_at(slot: Slot, component: int) -> ElementDef | None:
    """The definition of component ``component`` (0-based) of a slot; None past its end."""
    if slot.composite is None:
        return slot.element if component == 0 else None
    components = slot.composite.components
    return components[component].element if component < len(components) else None


@st.composite
def random_segments(draw: st.DrawFn) -> Segment:
    """A valid-looking segment with up to three mutations: a value replaced
    (by any value, or by one at or just past its length limits), a component
    or an element added, elements cut off, a value emptied."""
    mark = draw(st.sampled_from(MARKS))
    definition = DIRECTORY.segments[draw(st.sampled_from(TAGS))]
    slots = definition.elements
    elements = [list(element) for element in draw(valid_segments(definition, mark)).elements]
    for _ in range(draw(st.integers(0, 3))):
        mutation = draw(
            st.sampled_from(["value", "value", "value", "limit", "limit", "component", "element", "cut", "empty"])
        )
        if mutation == "element" or not elements:
            elements.append(draw(st.lists(_values(slots[-1]), max_size=2)))
            continue
        at = draw(st.integers(0, len(elements) - 1))
        element, slot = elements[at], slots[min(at, len(slots) - 1)]
        if mutation == "cut":
            del elements[at:]
        elif mutation == "component" or not element:
            element.append(draw(_values(slot)))
        else:
            index = draw(st.integers(0, len(element) - 1))
            defined = _element_at(slot, index) if at < len(slots) else None
            if mutation == "limit" and defined is not None:
                element[index] = draw(_at_the_limits(defined, mark))
            else:
                element[index] = "" if mutation == "empty" else draw(_values(slot))
    return Segment(definition.tag, elements)


def _valid_value(draw: st.DrawFn, element: ElementDef, mark: str, agency_free: bool) -> str:
    codes = DIRECTORY.codes.get(element.number)
    if codes and not agency_free:
        return draw(st.sampled_from(sorted(codes)))
    low, high = element.min_length, element.max_length
    if element.kind == "n":
        digits = draw(st.text(alphabet="0123456789", min_size=low, max_size=high))
        at = draw(st.integers(0, len(digits)))
        if at > 0 and draw(st.booleans()):
            digits = digits[:at] + mark + digits[at:]
        return draw(st.sampled_from(["", "-"])) + digits
    alphabet = "ABCXYZ éÉ€Δ-./" if element.kind == "a" else "ABCXYZ0123456789 éÉ€Δ-./\u4e00"
    return draw(st.text(alphabet=alphabet, min_size=low, max_size=high))


@st.composite
def valid_segments(draw: st.DrawFn, definition: SegmentDef, mark: str) -> Segment:
    elements: list[list[str]] = []
    for slot in definition.elements:
        present = slot.mandatory or draw(st.booleans())
        if slot.composite is None:
            assert slot.element is not None
            elements.append([_valid_value(draw, slot.element, mark, False)] if present else [""])
            continue
        parts = [""] * len(slot.composite.components)
        foreign = draw(st.booleans())  # a 3055 other than 6: coded values need not be in the list
        for index, component in enumerate(slot.composite.components):
            assert component.element is not None
            if component.element.number == "3055" and foreign:
                parts[index] = draw(st.sampled_from(["5", "9", "ZZZ"]))
            elif present and (component.mandatory or draw(st.booleans())):
                parts[index] = _valid_value(draw, component.element, mark, foreign and _qualified(slot, index))
        if present and not any(parts):  # a mandatory composite of conditional components: fill one
            first = slot.composite.components[0].element
            assert first is not None
            parts[0] = _valid_value(draw, first, mark, foreign and _qualified(slot, 0)) if slot.mandatory else ""
        elements.append(parts if present else [""])
    while elements and elements[-1] == [""] and draw(st.booleans()):
        elements.pop()
    return Segment(definition.tag, elements)


def _qualified(slot: Slot, index: int) -> bool:
    """Whether a 3055 follows component ``index`` (its code list then belongs to that agency)."""
    assert slot.composite is not None
    return any(c.number == "3055" for c in slot.composite.components[index + 1 :])


@needs_accelerator
@BOUNDED
@given(random_segments(), st.sampled_from(MARKS))
def test_clean_in_c_means_no_finding_in_python(segment: Segment, mark: str) -> None:
    clean = suspects([segment], mark) == []
    found = slow_findings(segment, mark)
    if clean:
        assert found == []
    # Exact, too, on segments without the joined path's separators (always suspect).
    elif not any("\ud800" in value or "\ud801" in value for element in segment.elements for value in element):
        assert found != []


@needs_accelerator
@BOUNDED
@given(st.data(), st.sampled_from(MARKS))
def test_valid_segments_are_clean_in_c(data: st.DataObject, mark: str) -> None:
    definition = DIRECTORY.segments[data.draw(st.sampled_from(TAGS))]
    segment = data.draw(valid_segments(definition, mark))
    assert slow_findings(segment, mark) == []
    assert suspects([segment], mark) == []


@needs_accelerator
@BOUNDED
@given(st.data(), st.sampled_from(MARKS))
def test_c_and_python_agree_on_values_at_the_length_limits(data: st.DataObject, mark: str) -> None:
    """A valid segment with one value at or just past its length limits: clean in
    C exactly when the Python check finds nothing (a length off by one fails here)."""
    definition = DIRECTORY.segments[data.draw(st.sampled_from(TAGS))]
    elements = [list(element) for element in data.draw(valid_segments(definition, mark)).elements]
    at = data.draw(st.integers(0, len(definition.elements) - 1))
    slot = definition.elements[at]
    width = 1 if slot.composite is None else len(slot.composite.components)
    index = data.draw(st.integers(0, width - 1))
    defined = _element_at(slot, index)
    assert defined is not None
    while len(elements) <= at:
        elements.append([""])
    elements[at] += [""] * (index + 1 - len(elements[at]))
    elements[at][index] = data.draw(_at_the_limits(defined, mark))
    segment = Segment(definition.tag, elements)
    assert (suspects([segment], mark) == []) == (slow_findings(segment, mark) == [])


# Fixed lengths above 1 (too short: 40), which D.96B as we define it never has, and
# unusual decimal marks: a made-up segment.
SYNTHETIC = parse_directory(
    {
        "elements": "9001 an3 Fixed\n9002 an2 Code\n9003 a..4 Letters\n9004 n..5 Number\n9005 a2 Pair\n"
        "3055 an..3 Agency\n",
        "composites": "C999 9002 9003? 3055? 9004?\n",
        "segments": "ZZZ 9001 C999? 9004? 9005?\n",
        "messages": "",
        "codes": "9002 AB CD 12\n",
    }
)


_MADE_UP_VALUES = {
    "9001": ["ABC", "AB", "ABCD", "1é\u4e00", ""],
    "9002": ["AB", "CD", "12", "XY", "A", ""],
    "9003": ["ABCD", "AB", "A1", "ABCDE", "é", ""],
    "3055": ["", "6", "5"],
    "9004": ["12", "-1.5", "1,5", "1.2.3", ".5", "5.", "-", "12345", "-12345", "123456", "5-5", "55", ""],
    "9005": ["AB", "A", "ABC", "A1", "é\u4e00", ""],
}


@st.composite
def made_up_segments(draw: st.DrawFn) -> Segment:
    """ZZZ segments, most of them close to valid (the first value of each list is valid)."""
    elements: list[list[str]] = []
    for slot in SYNTHETIC.segments["ZZZ"].elements:
        numbers = [slot.number] if slot.composite is None else [c.number for c in slot.composite.components]
        values = [st.sampled_from(_MADE_UP_VALUES[number][:1] * 4 + _MADE_UP_VALUES[number]) for number in numbers]
        element = [draw(value) for value in values]
        if draw(st.booleans()):
            del element[draw(st.integers(0, len(element))) :]
        if draw(st.integers(0, 9)) == 0:
            element.append(draw(st.sampled_from(["", "X"])))
        elements.append(element)
    del elements[draw(st.integers(1, len(elements))) :]
    if draw(st.integers(0, 9)) == 0:
        elements.append([""])
    return Segment("ZZZ", elements)


@needs_accelerator
@BOUNDED
@given(made_up_segments(), st.sampled_from([".", ",", "-", "5"]))
def test_the_c_check_is_exact_on_a_made_up_segment(segment: Segment, mark: str) -> None:
    clean = suspects([segment], mark, SYNTHETIC) == []
    assert clean == (slow_findings(segment, mark, SYNTHETIC) == [])


def _message(segments: list[Segment], with_text: bool) -> Message:
    """A CUSDEC around ``segments``; with ``with_text`` each segment keeps its
    text where splitting it gives its elements back (as the reader keeps it)."""
    delimiters = Delimiters()
    if with_text:
        for segment in segments:
            values = [value for element in segment.elements for value in element]
            if all(segment.elements) and not any(set(value) & {"+", ":"} for value in values):
                segment.text = "+".join([segment.tag, *(":".join(element) for element in segment.elements)])
    header = Segment("UNH", [["1"], ["CUSDEC", "D", "96B", "UN"]])
    return Message("1", "CUSDEC", "D", "96B", "UN", "", [header, *segments], delimiters=delimiters)


@needs_accelerator
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(random_segments(), max_size=8), st.sampled_from(MARKS), st.booleans())
def test_same_findings_on_random_messages(segments: list[Segment], mark: str, with_text: bool) -> None:
    assert_same_findings(_message(segments, with_text), mark)


# Odd inputs ---------------------------------------------------------------------------


class _OtherSegment(Segment):
    __slots__ = ()


@needs_accelerator
def test_odd_objects_are_suspects_not_crashes() -> None:
    ok = Segment("MOA", [["38", "1.5", "USD"]])
    odd = [
        _OtherSegment("MOA", [["38", "1.5", "USD"]]),
        Segment("MOA", (["38", "1.5", "USD"],)),  # type: ignore[arg-type]  # the wrong shape on purpose
        Segment("MOA", [("38", "1.5", "USD")]),  # type: ignore[list-item]  # the wrong shape on purpose
        Segment("MOA", [["38", 1.5, "USD"]]),  # type: ignore[list-item]  # the wrong shape on purpose
        Segment(b"MOA", [["38"]]),  # type: ignore[arg-type]  # the wrong shape on purpose
    ]
    unset = Segment.__new__(Segment)
    undefined = Segment("XYZ", [[object()]])  # type: ignore[list-item]  # a wrong value on purpose; skipped, as in Python: no definition
    assert suspects([ok, *odd, unset, undefined]) == [2, 3, 4, 5, 6, 7]
    assert suspects((ok, ok)) == []
    with pytest.raises(TypeError):
        suspects(5)  # type: ignore[arg-type]  # not a sequence, on purpose


@needs_accelerator
def test_tags_are_the_segments_tags_or_none() -> None:
    from validators.directory import _content

    tags = _content.Checker(Segment, {}, ".").tags
    segments = [Segment("UNH", [["1"]]), Segment("BGM", []), Segment("ÄÖÜ", []), Segment("UNT", [["3"]])]
    assert tags(segments) == ("UNH", "BGM", "ÄÖÜ", "UNT")
    assert tags(tuple(segments)) == ("UNH", "BGM", "ÄÖÜ", "UNT")
    assert tags([]) == ()
    for odd in (_OtherSegment("MOA", []), Segment(b"MOA", []), Segment.__new__(Segment), None, "MOA"):  # type: ignore[arg-type]  # a bytes tag on purpose
        assert tags([segments[0], odd]) is None
    with pytest.raises(TypeError):
        tags(5)  # type: ignore[arg-type]  # not a sequence, on purpose


@needs_accelerator
def test_the_structure_walk_reads_the_same_tags_either_way() -> None:
    """Findings of a structure error are the same with the C tags and without."""
    message, mark = messages_of((CUSDEC / "valid" / "v01_single.edi").read_bytes())[0]
    message.segments.insert(3, Segment("ZZZ", [["1"]]))
    found = {}
    for enabled in (True, False):
        with accelerated(enabled):
            found[enabled] = validator.DirectoryValidator(load_directory()).validate(message, mark)
    assert found[True] == found[False] and any(f.code == "15" for f in found[True])


@needs_accelerator
def test_checker_rejects_bad_specs() -> None:
    from validators.directory import _content

    value = (True, "an", 1, 3, None, -1)
    good = {"MOA": ((True, False, (value,)),)}
    _content.Checker(Segment, good, ".")
    bad_arguments = [
        (int, good, "."),
        (Segment, [], "."),
        (Segment, good, ""),
        (Segment, good, ".."),
        (Segment, {"TOOLONGTAG": good["MOA"]}, "."),
        (Segment, {5: good["MOA"]}, "."),
        (Segment, {"MOA": [(True, False, (value,))]}, "."),
        (Segment, {"MOA": ((True, False, (value, value)),)}, "."),  # a simple element with two values
        (Segment, {"MOA": ((1, False, (value,)),)}, "."),
        (Segment, {"MOA": ((True, True, ((True, "x", 1, 3, None, -1),)),)}, "."),
        (Segment, {"MOA": ((True, True, ((True, "an", -1, 3, None, -1),)),)}, "."),
        (Segment, {"MOA": ((True, True, ((True, "an", 1, 3, None, 1),)),)}, "."),  # agency out of range
        (Segment, {"MOA": ((True, True, ((True, "an", 1, 3, {"A"}, -1),)),)}, "."),
        (Segment, {"MOA": ((True, True, ((True, "an", 1, 3, frozenset({1}), -1),)),)}, "."),
        (Segment, {"MOA": ((True, True, ((True, "an", 1, 2**70, None, -1),)),)}, "."),
    ]
    for arguments in bad_arguments:
        with pytest.raises((TypeError, ValueError, OverflowError)):
            _content.Checker(*arguments)


@needs_accelerator
def test_long_and_non_latin_codes_are_looked_up() -> None:
    """Codes that do not fit the C check's 64-bit keys go through the frozenset."""
    from validators.directory import _content

    codes = frozenset({"A", "LONGCODE9", "\u4e00"})
    checker = _content.Checker(Segment, {"XYZ": ((True, False, ((True, "an", 1, 35, codes, -1),)),)}, ".")
    values = ["A", "LONGCODE9", "\u4e00", "B", "LONGCODE8", "\u4e01", "AA"]
    assert checker.suspects([Segment("XYZ", [[value]]) for value in values]) == [4, 5, 6, 7]


def test_one_switch_turns_every_accelerator_off() -> None:
    code = (
        "from validators.directory import validator; from parsers.edifact import reader; "
        "print(validator.use_accelerator(True), reader.use_accelerator(True))"  # whether each was on
    )
    environment = {**os.environ, "CARM_EDIFACT_ACCELERATOR": "0"}
    result = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_switched_off_no_c_check_is_made() -> None:
    path = next((FIXTURES / "cusdec" / "valid").glob("*.edi"))
    message, decimal = messages_of(path.read_bytes())[0]
    with accelerated(False):
        assert validator.default_validator()._suspect_finder(decimal) is None
        assert validator.validate_message(message, decimal) == []
