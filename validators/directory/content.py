"""Content checks of one segment against its directory definition.

``compile_segment`` turns a ``SegmentDef`` into a ``SegmentCheck``: one
compiled regular expression over the segment's elements joined with two
separator characters no decoded EDIFACT text can contain (lone UTF-16
surrogates), plus the code lists to look up in the values it captures. The
regex accepts only content the slow path (``SegmentCheck.findings``) would
accept, so the slow path runs only for segments that are wrong, or unusual
(a value containing a quote of the regex alphabet never is: the regex simply
does not match and the slow path decides).

Rules (ISO 9735, 0085 codes):
* more data elements than defined, or more components than a composite or a
  simple element has: 16, at the first one too many;
* a mandatory element or component empty or absent: 13; a composite whose
  components are all empty counts as absent;
* n: an optional leading minus, digits and at most one decimal mark, which
  must be the interchange's (another mark: 19; a mark with no digit before
  it: 38; anything else: 37); the minus and the mark do not count toward
  the length; a: no digits (37); an: any character;
* too long 39, too short 40 (only fixed-length elements have a minimum
  above 1);
* a value of an element with a code list (codes.def) that is not in it: 12,
  unless the composite's code list responsible agency (3055, the first one
  after the coded component) is present and is not 6 (UN/ECE).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from diagnostics import Finding, Location
from parsers.edifact.model import Segment
from validators.directory.definitions import CompositeDef, ElementDef, SegmentDef, Slot

__all__ = [
    "COMPONENT_SEPARATOR",
    "ELEMENT_SEPARATOR",
    "SegmentCheck",
    "compile_segment",
    "content_spec",
    "joined",
    "text_separators_safe",
]

ELEMENT_SEPARATOR = "\ud800"
COMPONENT_SEPARATOR = "\ud801"
_OTHER_MARK = {".": ",", ",": "."}
_AGENCY = "3055"
_UN_ECE = "6"
_DIGITS = re.compile("[0-9]+")
_HAS_DIGIT = re.compile("[0-9]")

_MEMO_SIZE = 4096  # joined segment texts remembered per tag and decimal mark

CodeCheck = tuple[int, frozenset[str], int]
"""(regex group of a coded value, its code list, group of its agency 3055 or -1)."""

ValueSpec = tuple[bool, str, int, int, frozenset[str] | None, int]
"""(mandatory, kind, min length, max length, code list or None, index of the
component 3055 that qualifies the code list or -1): see ``content_spec``."""
SlotSpec = tuple[bool, bool, tuple[ValueSpec, ...]]
"""(mandatory, composite, its components' values or the simple element's one)."""


def joined(elements: list[list[str]]) -> str:
    """A segment's elements as the one string the fast check reads."""
    return ELEMENT_SEPARATOR.join(map(COMPONENT_SEPARATOR.join, elements))


def _preview(value: str) -> str:
    return repr(value if len(value) <= 20 else value[:20] + "…")


@dataclass(frozen=True, slots=True)
class SegmentCheck:
    """A compiled segment definition for one decimal mark."""

    definition: SegmentDef
    fast: Callable[[str, int], re.Match[str] | None]  # a compiled pattern's fullmatch: (text, start)
    coded: tuple[CodeCheck, ...]
    codes: Mapping[str, frozenset[str]]
    decimal_mark: str
    known: set[str] = field(default_factory=set)  # joined texts that passed: a memo
    start: int = 0  # where the elements start in the texts this check reads (4: after "TAG+")
    known_codes: set[tuple[str | None, ...]] = field(default_factory=set)  # captured groups that passed: a memo

    def passes(self, elements: list[list[str]]) -> bool:
        """The fast check: True when the segment is certainly valid."""
        text = joined(elements)
        return text in self.known or self.passes_text(text)

    def passes_text(self, text: str) -> bool:
        """``passes`` on the joined elements (see ``joined``), without looking
        in the memo; a text that passes is added to it."""
        if not self.accepts(text):
            return False
        known = self.known
        if len(known) >= _MEMO_SIZE:
            known.clear()
        known.add(text)
        return True

    def accepts(self, text: str) -> bool:
        """The fast check of a text, memo left alone."""
        match = self.fast(text, self.start)
        return match is not None and (not self.coded or self.codes_known(match))

    def codes_known(self, match: re.Match[str]) -> bool:
        """Whether every coded value the fast check captured is in its code list
        (or its code list responsible agency is not UN/ECE). The regex captures
        only coded values and agencies, so their combinations that passed are
        few: they are remembered."""
        groups = match.groups()
        if groups in self.known_codes:
            return True
        for group, codes, agency in self.coded:
            value = groups[group]
            if value and value not in codes and (agency < 0 or groups[agency] in (None, "", _UN_ECE)):
                return False
        known = self.known_codes
        if len(known) >= _MEMO_SIZE:
            known.clear()
        known.add(groups)
        return True

    def findings(self, segment: Segment, position: int, reference: str) -> list[Finding]:
        """Every finding on the segment's content (the slow path)."""
        return _SlowCheck(self, segment, position, reference).run()


class _SlowCheck:
    """One segment's element-by-element walk, collecting findings."""

    def __init__(self, check: SegmentCheck, segment: Segment, position: int, reference: str) -> None:
        self.check = check
        self.segment = segment
        self.position = position
        self.reference = reference
        self.found: list[Finding] = []

    def report(self, code: str, text: str, element: int, component: int | None = None) -> None:
        location = Location(self.reference, self.position, self.segment.tag, element, component)
        self.found.append(Finding(code, text, location))

    def run(self) -> list[Finding]:
        slots = self.check.definition.elements
        elements = self.segment.elements
        tag = self.segment.tag
        if len(elements) > len(slots):
            self.report("16", f"{tag} has {len(elements)} data elements, at most {len(slots)} defined", len(slots) + 1)
        for index, slot in enumerate(slots):
            value = elements[index] if index < len(elements) else []
            if slot.composite is not None:
                self.composite(index + 1, slot, slot.composite, value)
            else:
                self.simple(index + 1, slot, value)
        return self.found

    def simple(self, position: int, slot: Slot, value: list[str]) -> None:
        tag = self.segment.tag
        if len(value) > 1:
            self.report(
                "16",
                f"{tag} element {position} ({slot.number}) is a simple data element but has {len(value)} components",
                position,
                2,
            )
        text = value[0] if value else ""
        if text == "":
            if slot.mandatory:
                self.report("13", f"{tag} element {position} ({slot.number}) is mandatory but missing", position)
            return
        assert slot.element is not None
        self.value(f"{tag} element {position} ({slot.number})", slot.element, text, position, None, None)

    def composite(self, position: int, slot: Slot, composite: CompositeDef, value: list[str]) -> None:
        tag = self.segment.tag
        if not any(value):
            if slot.mandatory:
                self.report("13", f"{tag} element {position} ({slot.number}) is mandatory but missing", position)
            return
        components = composite.components
        if len(value) > len(components):
            self.report(
                "16",
                f"{tag} element {position} ({slot.number}) has {len(value)} components, at most "
                f"{len(components)} defined",
                position,
                len(components) + 1,
            )
        for index, component in enumerate(components):
            text = value[index] if index < len(value) else ""
            name = f"{tag} element {position}.{index + 1} ({slot.number}/{component.number})"
            if text == "":
                if component.mandatory:
                    self.report("13", f"{name} is mandatory but missing", position, index + 1)
                continue
            assert component.element is not None
            agency = _agency_value(composite, index, value)
            self.value(name, component.element, text, position, index + 1, agency)

    def value(
        self, name: str, element: ElementDef, text: str, position: int, component: int | None, agency: str | None
    ) -> None:
        if element.kind == "n":
            length = self.numeric(name, text, position, component)
            if length is None:
                return
        else:
            if element.kind == "a" and _HAS_DIGIT.search(text):
                self.report(
                    "37", f"{name}: {_preview(text)} contains digits, letters only allowed", position, component
                )
                return
            length = len(text)
        if length > element.max_length:
            self.report(
                "39",
                f"{name}: {_preview(text)} is {length} characters, at most {element.max_length} allowed",
                position,
                component,
            )
        elif length < element.min_length:
            self.report(
                "40",
                f"{name}: {_preview(text)} is {length} characters, at least {element.min_length} required",
                position,
                component,
            )
        else:
            codes = self.check.codes.get(element.number)
            if codes is not None and text not in codes and agency in (None, "", _UN_ECE):
                self.report(
                    "12",
                    f"{name}: {_preview(text)} is not a D.96B code of {element.number} ({element.name})",
                    position,
                    component,
                )

    def numeric(self, name: str, text: str, position: int, component: int | None) -> int | None:
        """Digit count of a valid numeric value, or None after reporting it."""
        mark = self.check.decimal_mark
        body = text[1:] if text.startswith("-") else text
        digits = body.replace(mark, "", 1)
        if _DIGITS.fullmatch(digits):
            if body.startswith(mark):
                self.report("38", f"{name}: {_preview(text)} has no digit before the decimal mark", position, component)
                return None
            return len(digits)
        other = _OTHER_MARK.get(mark)
        if other and mark not in body and _DIGITS.fullmatch(body.replace(other, "", 1)):
            self.report(
                "19",
                f"{name}: {_preview(text)} uses {other!r} as decimal mark; this interchange's is {mark!r}",
                position,
                component,
            )
        else:
            self.report(
                "37",
                f"{name}: {_preview(text)} is not numeric (digits, one decimal mark {mark!r}, a leading minus)",
                position,
                component,
            )
        return None


def _agency_index(composite: CompositeDef, index: int) -> int:
    """Index of the code list responsible agency that qualifies component ``index``, or -1."""
    for later in range(index + 1, len(composite.components)):
        if composite.components[later].number == _AGENCY:
            return later
    return -1


def _agency_value(composite: CompositeDef, index: int, value: list[str]) -> str | None:
    agency = _agency_index(composite, index)
    return value[agency] if 0 <= agency < len(value) else None


# Compilation ------------------------------------------------------------------


def content_spec(
    segments: Mapping[str, SegmentDef], codes: Mapping[str, frozenset[str]]
) -> dict[str, tuple[SlotSpec, ...]]:
    """The segment definitions as plain data for the C content check
    (validators/directory/_content.c, ``Checker``): per tag, its slots. A
    simple element's value carries the slot's mandatory flag (the C check
    reads the slot's); agencies are found as the slow path finds them."""
    return {tag: tuple(_slot_spec(slot, codes) for slot in definition.elements) for tag, definition in segments.items()}


def _slot_spec(slot: Slot, codes: Mapping[str, frozenset[str]]) -> SlotSpec:
    composite = slot.composite
    if composite is None:
        return slot.mandatory, False, (_value_spec(slot, codes, -1),)
    components = composite.components
    return (
        slot.mandatory,
        True,
        tuple(
            _value_spec(component, codes, _agency_index(composite, index)) for index, component in enumerate(components)
        ),
    )


def _value_spec(slot: Slot, codes: Mapping[str, frozenset[str]], agency: int) -> ValueSpec:
    element = slot.element
    assert element is not None
    return slot.mandatory, element.kind, element.min_length, element.max_length, codes.get(element.number), agency


class _Alphabet:
    """The regex pieces that depend on the two separators a check reads."""

    def __init__(self, element: str, component: str) -> None:
        self.element = re.escape(element)
        self.component = re.escape(component)
        self.not_separator = f"[^{self.element}{self.component}]"
        self.not_separator_or_digit = f"[^{self.element}{self.component}0-9]"
        self.end_of_value = f"(?!{self.not_separator})"


_JOINED = _Alphabet(ELEMENT_SEPARATOR, COMPONENT_SEPARATOR)


def text_separators_safe(element: str, component: str, decimal_mark: str) -> bool:
    """Whether a check may read a segment's own text (``Segment.text``) with
    these separators: it then accepts exactly what it accepts on the joined
    elements. The value patterns only name digits, ``-`` and the decimal mark,
    so separators must be none of those (and two distinct single characters)."""
    return (
        len(element) == 1
        and len(component) == 1
        and element != component
        and not {element, component} & set("0123456789-" + decimal_mark)
    )


def _value_pattern(element: ElementDef, mandatory: bool, mark: str, alphabet: _Alphabet = _JOINED) -> str:
    """Regex of one value. Quantifiers are possessive: a value never contains
    a separator, so giving characters back could never help a match."""
    low, high = element.min_length, element.max_length
    if element.kind == "n":
        escaped = re.escape(mark)
        end = alphabet.end_of_value
        # digits only: low..high of them; with the mark (not counted): a digit on
        # each side, so at least max(low, 2) digits and one more character
        pattern = f"(?=[0-9]{{{low},{high}}}+{end})[0-9]++"
        if high >= 2:
            pattern += f"|(?=[0-9{escaped}]{{{max(low, 2) + 1},{high + 1}}}+{end})[0-9]++{escaped}[0-9]++"
        pattern = f"-?(?:{pattern})"
    elif element.kind == "a":
        pattern = f"{alphabet.not_separator_or_digit}{{{low},{high}}}+"
    else:
        pattern = f"{alphabet.not_separator}{{{low},{high}}}+"
    return pattern if mandatory else f"(?:{pattern})?"


def _sequence(parts: list[tuple[str, bool]], separator: str) -> str:
    """Parts joined by ``separator``; a tail of conditional parts may be omitted."""
    pattern = ""
    for index in range(len(parts) - 1, 0, -1):
        pattern = separator + parts[index][0] + pattern
        if not any(mandatory for _, mandatory in parts[index:]):
            pattern = f"(?:{pattern})?"
    return parts[0][0] + pattern if parts else ""


class _Compiler:
    def __init__(self, codes: Mapping[str, frozenset[str]], mark: str, alphabet: _Alphabet = _JOINED) -> None:
        self.codes = codes
        self.mark = mark
        self.alphabet = alphabet
        self.groups = 0
        self.coded: list[CodeCheck] = []

    def capture(self, pattern: str) -> tuple[str, int]:
        self.groups += 1
        return f"({pattern})", self.groups - 1

    def component_parts(self, composite: CompositeDef) -> list[tuple[str, bool]]:
        parts: list[tuple[str, bool]] = []
        captured: dict[int, int] = {}
        pending: list[tuple[int, int]] = []  # (component index, group) of coded values
        for index, component in enumerate(composite.components):
            assert component.element is not None
            pattern = _value_pattern(component.element, component.mandatory, self.mark, self.alphabet)
            if component.number in self.codes or component.number == _AGENCY:
                pattern, group = self.capture(pattern)
                captured[index] = group
                if component.number in self.codes:
                    pending.append((index, group))
            parts.append((pattern, component.mandatory))
        for index, group in pending:
            agency = _agency_index(composite, index)
            number = composite.components[index].number
            self.coded.append((group, self.codes[number], captured[agency] if agency >= 0 else -1))
        return parts

    def segment(self, definition: SegmentDef) -> str:
        parts: list[tuple[str, bool]] = []
        alphabet = self.alphabet
        for slot in definition.elements:
            if slot.composite is not None:
                inner = _sequence(self.component_parts(slot.composite), alphabet.component)
                if slot.mandatory and not any(c.mandatory for c in slot.composite.components):
                    pattern = f"(?={alphabet.component}*{alphabet.not_separator}){inner}"  # some component with content
                elif slot.mandatory:
                    pattern = inner
                else:
                    pattern = f"(?:{inner})?"
            else:
                assert slot.element is not None
                pattern = _value_pattern(slot.element, slot.mandatory, self.mark, alphabet)
                if slot.number in self.codes:
                    pattern, group = self.capture(pattern)
                    self.coded.append((group, self.codes[slot.number], -1))
            parts.append((pattern, slot.mandatory))
        return _sequence(parts, alphabet.element)


def compile_segment(
    definition: SegmentDef,
    codes: Mapping[str, frozenset[str]],
    decimal_mark: str,
    separators: tuple[str, str] | None = None,
) -> SegmentCheck:
    """The check of one segment definition. By default it reads the elements
    joined (see ``joined``); with ``separators`` (element, component; see
    ``text_separators_safe``) it reads the segment's own text, tag included
    (``Segment.text``): the elements start after the tag and its separator."""
    if separators is None:
        compiler, start = _Compiler(codes, decimal_mark), 0
    else:
        compiler, start = _Compiler(codes, decimal_mark, _Alphabet(*separators)), len(definition.tag) + 1
    pattern = compiler.segment(definition)
    return SegmentCheck(
        definition, re.compile(pattern).fullmatch, tuple(compiler.coded), codes, decimal_mark, start=start
    )
