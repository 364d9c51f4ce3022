"""An EDIFACT message implementation guide as data, the one writer it drives and
the tables it documents.

A guide is a tree of ``SegmentRule``s that mirrors the UN/EDIFACT directory's
segment groups (``SG30`` = CST, FTX, LOC, …, ``SG41`` = TAX, MOA): a rule names a
segment, the qualifier that selects it, the ``Value``s its data elements carry
(element, component, directory codes ↔ domain field path) and the rules of the
segments that belong to its group. ``mappings.edifact_walk.read_message`` walks
one message against the guide (compiled once per guide): every value it sets
remembers the segment, element and component it came from, so that any later
error about the field can be placed. ``write_segments`` runs the same rules the
other way (domain object → segments), and ``guide_table`` renders them as the
mapping tables of docs/formats/.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydifact.segments import Segment as OutSegment

from diagnostics import Location
from mappings.derived import PerObject
from mappings.edifact_values import ValueProblem, parse_date_102, parse_decimal
from mappings.edifact_writer import segment as out_segment
from parsers.edifact.model import Segment

Source = tuple[int, str, int | None, int | None]
"""Where a field was read: segment position in the message (UNH = 1), tag,
element and component. Kept as a tuple: a Location is built only for errors."""


def source_location(message_ref: str, source: Source | None) -> Location:
    """The Location of a source; the message header when unknown."""
    if source is None:
        return Location(message_ref=message_ref, segment=1, tag="UNH")
    segment, tag, element, component = source
    return Location(message_ref=message_ref, segment=segment, tag=tag, element=element, component=component)


# -- Value codecs: text ↔ domain value --------------------------------------------------------


class Codec:
    """Turns a data element's text into a domain value and back. ``read`` raises
    ``ValueProblem`` for text that does not fit; ``segment`` is there for codecs
    that look at a sibling component (a date's format qualifier). A codec
    whose value fills several fields names them in ``fills`` and returns a
    dict; ``own_message``: its problems are said as they are, without the
    field's name before them."""

    fills: tuple[str, ...] = ()
    own_message = False

    def read(self, text: str, segment: Segment, value: Value, mark: str) -> Any:
        return text

    def write(self, value: Any) -> str:
        return str(value)


class Decimals(Codec):
    """A numeric data element: the declared decimal mark, ``.`` or ``,``."""

    def read(self, text: str, segment: Segment, value: Value, mark: str) -> Any:
        return parse_decimal(text, mark)

    def write(self, value: Any) -> str:
        return format(value, "f")


class Date102(Codec):
    """C507 2380 as format 102 (``CCYYMMDD``); the format code (2379, the
    component after the date) must be 102 when given."""

    def read(self, text: str, segment: Segment, value: Value, mark: str) -> Any:
        fmt = segment.get(value.element, (value.component or 1) + 1)
        if fmt and fmt != "102":
            raise ValueProblem("12", f"date format {fmt!r} is not supported; use 102 (CCYYMMDD)")
        return parse_date_102(text)

    def write(self, value: Any) -> str:
        return str(value.strftime("%Y%m%d"))


class Counter(Codec):
    """A sequence number (1496): ASCII digits."""

    def read(self, text: str, segment: Segment, value: Value, mark: str) -> Any:
        if not (text.isascii() and text.isdigit()):
            raise ValueProblem("37" if any(c.isalpha() for c in text) else "12", f"{text!r} is not a line number")
        return int(text)


class Flag(Codec):
    """A code whose one value means something and whose absence means the
    domain default: any other code is left unread."""

    def __init__(self, code: str, meaning: Any) -> None:
        self.code, self.meaning = code, meaning

    def read(self, text: str, segment: Segment, value: Value, mark: str) -> Any:
        return self.meaning if text == self.code else None

    def write(self, value: Any) -> str:
        return self.code if value == self.meaning else ""


TEXT, DECIMAL, DATE_102, COUNTER = Codec(), Decimals(), Date102(), Counter()


@dataclass(frozen=True)
class Value:
    """One data element or component of a segment ↔ one domain field.

    ``path`` is relative to the object the rule's group fills (``""`` for a
    value that carries no field: a fixed code the guide writes). ``component``
    None reads a whole element whose components are joined (``joined``: from
    ``component`` on, with single spaces). ``constant`` is the code the guide
    writes; ``expect`` makes the reader check it (a ``Finding`` 12 with
    ``mismatch``, formatted with ``value`` and ``expected``); ``same_as``
    compares the value with a field already read (of the group's object, else
    of the root) instead of setting one; the writer copies that field, or
    ``default``'s value when neither has it.
    ``repeats``: every segment read appends its text as it is (empty text too,
    so that item n is the n-th segment's) to the list ``path`` (a name) of the
    group's object, the source of item n at ``path[n]``; the writer does not
    write such values. ``only_if_given``: an empty element leaves the field and its
    source as they are (the value overrides one read before it). ``read_empty``:
    the codec reads empty text too (it raises when that is a problem).
    ``problem_prefix``: a problem is said as ``{problem_prefix}: {problem}``
    instead of after the field's guide label.
    """

    path: str
    element: int
    component: int | None = 1
    code: str = ""  # the directory's names: "C507 2380"
    codec: Codec = TEXT
    status: str = "C"  # M or C in our guide
    note: str = ""
    label: str = ""  # how messages name the field, when not "<segment> <code>"
    joined: bool = False
    constant: str | None = None
    expect: str = ""  # "always": the constant must be there; "if-given": when not empty
    mismatch: str = ""
    failed_path: str = ""  # the field a failed check is reported against
    same_as: str = ""
    read: bool = True
    write: bool = True
    write_from: str = ""  # writer: the attribute written, when not ``path``
    default: Callable[[Any, Any], Any] | None = None  # writer: (object, root) -> value when the field is None
    # (or when ``path`` names no attribute of the object: a reading aid the domain does not keep)
    repeats: bool = False
    only_if_given: bool = False
    read_empty: bool = False
    problem_prefix: str = ""

    @property
    def is_read(self) -> bool:
        """Whether the reader looks at it (a plain constant is only written)."""
        return self.read and bool(self.path or self.expect or self.same_as)

    @property
    def position(self) -> tuple[int, int | None]:
        return self.element, self.component


@dataclass(frozen=True)
class SegmentRule:
    """One segment of the guide: its tag, the qualifier that selects it, the
    values it carries and the rules of its group (the segments that follow it
    and belong to it). ``target`` is what the group fills: ``""`` the parent's
    object, ``"name"`` the object ``name`` (created when the segment is seen),
    ``"name[]"`` a new item of the list ``name``; with ``nth``, the n-th segment
    the rule takes fills the n-th item of the list instead (created when
    missing): a list whose items' parts stand in separate segment groups.
    ``also``: more codes (element, component, code) the segment must carry
    for the rule to take it (the writer writes them). ``remembered``: the walk
    keeps the last segment the rule took (``Reading.seen``, under
    ``TAG+QUALIFIER``) for a mapping that reads it itself, as a count."""

    tag: str
    qualifier: str = ""
    select: tuple[int, int] = (1, 1)  # where the qualifier stands
    values: tuple[Value, ...] = ()
    group: tuple[SegmentRule, ...] = ()
    target: str = ""
    nth: bool = False
    also: tuple[tuple[int, int, str], ...] = ()
    repeat: int = 0  # how often the rule may match within its parent (0: no limit)
    remembered: bool = False
    directory: str = ""  # directory position: "SG5", "SG30/SG41"
    status: str = "C"
    note: str = ""
    label: str = ""  # how the segment is named in messages, when not "TAG+QUALIFIER"
    documented_as: str | None = (
        None  # docs: the path prefix of the group's fields, when not ``target`` ("": the parent's)
    )

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        return f"{self.tag}+{self.qualifier}" if self.qualifier else self.tag

    def selects(self, segment: Segment) -> bool:
        return (not self.qualifier or segment.get(*self.select) == self.qualifier) and all(
            segment.get(element, component) == code for element, component, code in self.also
        )

    def describes(self, value: Value) -> str:
        """How a message names the field of ``value``: ``DTM+271 C507 2380``."""
        return value.label or (f"{self.name} {value.code}" if value.code else self.name)


@dataclass(frozen=True)
class Section:
    """A part of the message after UNH or an UNS: its top-level rules.
    ``strict``: a segment there that no rule takes is reported (code 14) with
    ``strict`` as its message, ``{tag}`` filled in."""

    rules: tuple[SegmentRule, ...]
    opened_by: str = ""  # the UNS 0081 code that opens it ("" = the start)
    strict: str = ""


@dataclass(frozen=True)
class Guide:
    """One message implementation guide."""

    identifier: tuple[str, str, str]  # message type, version, release
    sections: tuple[Section, ...]
    labels: Mapping[str, str] = field(default_factory=dict)  # how messages name an object path ("lines")

    def walk_rules(self) -> Iterator[tuple[str, SegmentRule]]:
        """Every rule with the domain path prefix of its object (lines: ``lines[]``)."""

        def walk(rules: Sequence[SegmentRule], prefix: str) -> Iterator[tuple[str, SegmentRule]]:
            for rule in rules:
                inner = prefix + (
                    rule.target.rstrip("[]") + ("[]." if rule.target.endswith("[]") else ".") if rule.target else ""
                )
                yield inner, rule
                yield from walk(rule.group, inner)

        for section in self.sections:
            yield from walk(section.rules, "")

    def fields(self) -> dict[str, list[tuple[SegmentRule, Value]]]:
        """Domain path (``invoice.number``, ``lines[].hs_code``) → the rules and values that carry it."""
        return _FIELDS.derive(self, Guide._fields)

    def _fields(self) -> dict[str, list[tuple[SegmentRule, Value]]]:
        found: dict[str, list[tuple[SegmentRule, Value]]] = {}
        for prefix, rule in self.walk_rules():
            if rule.target and not rule.target.endswith("[]"):
                found.setdefault(prefix.rstrip("."), []).append((rule, Value("", 0, label=rule.name)))
            for value in rule.values:
                if value.path:
                    found.setdefault(prefix + value.path, []).append((rule, value))
                elif value.same_as and value.read:
                    found.setdefault(prefix + value.same_as, []).append((rule, value))
        return found

    def describe(self, path: str) -> str:
        """How a message names a domain path: ``lines[2].hs_code`` →
        ``line 3 hs_code (CST C246 #1 7361)``; ``currency`` → ``currency (MOA+39
        C516 6345 / CUX C504 6345)``. An object without a field of its own is
        named after the segment of its first field."""
        generic = _generic(path)
        where = self.labels.get(generic)
        if where is None:
            bindings = self.fields().get(generic)
            if bindings:
                where = " / ".join(dict.fromkeys(rule.describes(value) for rule, value in bindings))
            else:
                inner = next((found for key, found in self.fields().items() if key.startswith(generic + ".")), None)
                where = inner[0][0].name if inner and "[" not in generic.rpartition(".")[2] else None
        return _label(path, where)

    def tag_of(self, path: str) -> str:
        """The tag of the segment that carries a field (its first binding), or UNH."""
        generic = _generic(path)
        bindings = self.fields().get(generic)
        if not bindings:
            bindings = next((found for key, found in self.fields().items() if key.startswith(generic + ".")), None)
        return bindings[0][0].tag if bindings else "UNH"


_FIELDS = PerObject()


def _generic(path: str) -> str:
    """``lines[2].hs_code`` → ``lines[].hs_code``."""
    return re.sub(r"\[\d+\]", "[]", path)


_ITEMS = {"lines": "line", "invoices": "invoice"}


def _label(path: str, where: str | None) -> str:
    match = re.match(r"^(lines|invoices)\[(\d+)\]\.(.+)$", path)
    label = f"{_ITEMS[match.group(1)]} {int(match.group(2)) + 1} {match.group(3)}" if match else path
    return f"{label} ({where})" if where else label


def guide_label(rule: SegmentRule, value: Value, full: str) -> str:
    """How a message read at ``rule``'s ``value`` names its field: ``line 3 hs_code (CST C246 #1 7361)``."""
    return _label(full, rule.describes(value))


# -- Writing ---------------------------------------------------------------------------------


def write_segments(guide: Guide, root: Any) -> Iterator[OutSegment]:
    """The segments between UNH and UNT for ``root`` (a domain object), the
    sections opened by their UNS."""
    for section in guide.sections:
        if section.opened_by:
            yield out_segment("UNS", section.opened_by)
        yield from _write_rules(section.rules, root, root)


def _write_rules(rules: Sequence[SegmentRule], obj: Any, root: Any) -> Iterator[OutSegment]:
    for rule in rules:
        if rule.target.endswith("[]"):
            for item in getattr(obj, rule.target[:-2]):
                yield from _write_rule(rule, item, root)
        elif rule.target:
            target = getattr(obj, rule.target)
            if target is not None:
                yield from _write_rule(rule, target, root)
        else:
            yield from _write_rule(rule, obj, root)


def _write_rule(rule: SegmentRule, obj: Any, root: Any) -> Iterator[OutSegment]:
    """The rule's segment, when it or its group carries a value, then its group's."""
    elements: list[list[str]] = []
    carries = False
    for value in rule.values:
        text = _written(value, obj, root)
        if text is None:
            continue
        carries = carries or bool(value.path or (value.default and not value.same_as))
        if value.joined:
            parts = textwrap.wrap(text, 70, break_on_hyphens=False)[:5]
            for offset, part in enumerate(parts):
                _place(elements, (value.element, (value.component or 1) + offset), part)
        else:
            _place(elements, (value.element, value.component or 1), text)
    group = [segment for child in rule.group for segment in _write_rules((child,), obj, root)]
    if not carries and not group:
        return
    if rule.qualifier:
        _place(elements, rule.select, rule.qualifier)
    for element, component, code in rule.also:
        _place(elements, (element, component), code)
    yield out_segment(rule.tag, *[item[0] if len(item) == 1 else item for item in elements])
    yield from group


def _written(value: Value, obj: Any, root: Any) -> str | None:
    """The text the writer puts at ``value``'s place, or None."""
    if not value.write or value.repeats:
        return None
    if value.constant is not None:
        return value.constant
    if value.same_as:
        first = value.same_as.split(".")[0]
        owner = obj if hasattr(obj, first) else root if hasattr(root, first) else None
        found = None if owner is None else _attr(owner, value.same_as)
    elif value.write_from or (value.path and (value.default is None or hasattr(obj, value.path.split(".")[0]))):
        found = _attr(obj, value.write_from or value.path)
    else:
        found = None
    if found is None and value.default is not None:
        found = value.default(obj, root)
    return None if found is None else value.codec.write(found)


def _attr(obj: Any, path: str) -> Any:
    for name in path.split("."):
        if obj is None:
            return None
        obj = getattr(obj, name)
    return obj


def _place(elements: list[list[str]], position: tuple[int, int], text: str) -> None:
    element, component = position
    while len(elements) < element:
        elements.append([""])
    parts = elements[element - 1]
    while len(parts) < component:
        parts.append("")
    parts[component - 1] = text


# -- Documentation ---------------------------------------------------------------------------


def guide_table(rules: Sequence[SegmentRule], prefix: str = "", depth: int = 0) -> list[str]:
    """Markdown rows for ``rules`` and their groups: segment, directory
    group, element :component with the directory's codes, domain field,
    status, note. A group's segments are indented under the one that opens it."""
    rows: list[str] = []
    for rule in rules:
        inner = prefix
        if rule.documented_as is not None:
            inner = prefix + rule.documented_as
        elif rule.target:
            inner = prefix + rule.target.replace("[]", "[n]") + "."
        shown = [
            value for value in rule.values if value.path or value.constant is not None or value.same_as or value.default
        ]
        for number, value in enumerate(shown or [Value("", 0)]):
            segment = f"{'↳ ' * depth}`{rule.name}`" if number == 0 else ""
            directory = rule.directory if number == 0 else ""
            where = _position_text(value) if value.element else ""
            if value.path:
                domain = f"`{inner}{value.path}`"
            elif value.same_as:
                domain = f"= `{value.same_as}`"
            elif value.constant is not None:
                domain = f"`{value.constant}` (fixed)"
            elif value.default is not None:
                domain = "(computed)"
            else:
                domain = "—"
            status = value.status if value.element else rule.status
            note = value.note or (rule.note if number == 0 else "")
            rows.append(f"| {segment} | {directory} | {where} | {domain} | {status} | {note} |")
        rows.extend(guide_table(rule.group, inner, depth + 1))
    return rows


def _position_text(value: Value) -> str:
    component = "" if value.component is None else f" :{value.component}"
    if value.joined:
        component = f" :{value.component or 1}–5"
    return f"{value.element}{component} {value.code}".strip()


def guide_markdown(guide: Guide) -> str:
    """The mapping tables of one guide, a section each."""
    lines: list[str] = []
    for section in guide.sections:
        title = f"After `UNS+{section.opened_by}`" if section.opened_by else "From `UNH`"
        lines += [
            f"### {title}",
            "",
            "| Segment | Group | Element :component (codes) | Domain field | Status | Notes |",
            "|---|---|---|---|---|---|",
        ]
        lines += guide_table(section.rules)
        lines.append("")
    return "\n".join(lines)


__all__ = [
    "COUNTER",
    "DATE_102",
    "DECIMAL",
    "TEXT",
    "Codec",
    "Flag",
    "Guide",
    "Section",
    "SegmentRule",
    "Source",
    "Value",
    "guide_label",
    "guide_markdown",
    "source_location",
    "write_segments",
]
