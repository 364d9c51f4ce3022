"""An EDIFACT message implementation guide as data, and the one reader and one
writer it drives.

A guide is a tree of ``SegmentRule``s that mirrors the UN/EDIFACT directory's
segment groups (``SG30`` = CST, FTX, LOC, …, ``SG41`` = TAX, MOA): a rule names a
segment, the qualifier that selects it, the ``Value``s its data elements carry
(element, component, directory codes ↔ domain field path) and the rules of the
segments that belong to its group. ``read_message`` walks one message against the
guide: every value it sets remembers the segment, element and component it came
from, so that any later error about the field can be placed. ``write_segments``
runs the same rules the other way (domain object → segments), and
``guide_table`` renders them as the mapping tables of docs/formats/.

Reading follows the directory's group semantics: a segment belongs to the
innermost open group that has a rule for it (and room for one more); otherwise
the group closes and its parent is asked. A segment no rule takes is left to
the directory check (``validators.directory``), which reports layout errors.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydifact.segments import Segment as OutSegment

from diagnostics import Finding, Location
from mappings.derived import PerObject
from mappings.edifact_values import ValueProblem, parse_date_102, parse_decimal
from mappings.edifact_writer import segment as out_segment
from parsers.edifact.model import Message, Segment

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
    for the rule to take it (the writer writes them)."""

    tag: str
    qualifier: str = ""
    select: tuple[int, int] = (1, 1)  # where the qualifier stands
    values: tuple[Value, ...] = ()
    group: tuple[SegmentRule, ...] = ()
    target: str = ""
    nth: bool = False
    also: tuple[tuple[int, int, str], ...] = ()
    repeat: int = 0  # how often the rule may match within its parent (0: no limit)
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


# -- Reading ---------------------------------------------------------------------------------


@dataclass
class Reading:
    """What ``read_message`` found: the data for the domain model, where each
    field came from, the guide's own findings, the paths already reported
    (pydantic need not repeat them), and the (position, tag) of each segment a
    rule took, per list item (``lines[0]`` …) and for the message."""

    data: dict[str, Any]
    sources: dict[str, Source] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)
    layout: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    seen: dict[str, tuple[int, Segment]] = field(default_factory=dict)  # "UNS+D" / "CNT+5" … → its last segment
    nth: dict[int, int] = field(default_factory=dict)  # id(plan) of an ``nth`` rule → the last item it filled


_FIELD, _EXPECT, _SAME = 0, 1, 2
_PLAIN, _NESTED, _CHECK, _OTHER = 0, 1, 2, 3  # how the walk reads a step (``_Step.mode``)


class _Step:
    """A value compiled for reading: 0-based positions, the path split once, and
    what every reading of it repeats (the tail of its source, the fields it sets)."""

    __slots__ = (
        "value",
        "kind",
        "element",
        "component",
        "joined_from",
        "codec",
        "names",
        "fills",
        "where",
        "tail",
        "marks",
        "mode",
        "skip_empty",
    )

    def __init__(self, value: Value, tag: str) -> None:
        self.value = value
        self.kind = _EXPECT if value.expect else _SAME if value.same_as else _FIELD
        self.element = value.element - 1
        self.component = (value.component or 1) - 1
        self.joined_from = self.component if value.joined else -1
        self.codec = None if type(value.codec) is Codec else value.codec  # plain text: no call
        self.names = tuple(value.path.split(".")) if value.path else ()
        self.fills = value.codec.fills
        self.where = (value.element, None if value.joined and value.component == 1 else value.component)
        self.tail = (tag, *self.where)  # a source is (segment position, *tail)
        self.marks = self.fills or (value.path,)  # the fields whose source a reading records
        # how ``read_message`` reads it: the common cases inline (one component's text into one
        # field, as it is or through a codec; a code checked against the one expected, a word
        # said only when it differs), ``_read_value`` the others
        if self.kind == _FIELD and not value.repeats and not value.joined and not self.fills:
            self.mode = _PLAIN if len(self.names) == 1 else _NESTED
        elif self.kind == _EXPECT and not value.joined:
            self.mode = _CHECK
        else:
            self.mode = _OTHER
        self.skip_empty = not value.read_empty


class _Plan:
    """A rule compiled for reading: its selector, its steps and its group's rules by tag."""

    __slots__ = (
        "rule",
        "tag",
        "qualifier",
        "select",
        "also",
        "repeat",
        "seen",
        "kind",
        "name",
        "steps",
        "fast",
        "group",
    )

    def __init__(self, rule: SegmentRule) -> None:
        self.rule = rule
        self.tag = rule.tag
        self.qualifier = rule.qualifier
        self.select = (rule.select[0] - 1, rule.select[1] - 1)
        self.also = tuple((element - 1, component - 1, code) for element, component, code in rule.also)
        self.repeat = rule.repeat
        self.seen = f"{rule.tag}+{rule.qualifier}" if rule.qualifier else ""
        self.kind = (3 if rule.nth else 2) if rule.target.endswith("[]") else 1 if rule.target else 0
        self.name = rule.target.removesuffix("[]")
        self.steps = tuple(_Step(value, rule.tag) for value in rule.values if value.is_read)
        # what the walk reads of each step, unpacked in one go (attribute loads per value were a
        # third of the walk): the step, how it is read, its positions, and for a field its path,
        # its source's tail, the codec's ``read`` (None: the text as it is) and its name (a
        # nested path: its names); for a check, the code expected
        self.fast: tuple[tuple[Any, ...], ...] = tuple(
            (
                step,
                step.mode,
                step.element,
                step.component,
                step.value.only_if_given,
                step.value.path,
                *step.tail,
                step.skip_empty,
                None if step.codec is None else step.codec.read,
                step.names[0] if step.mode == _PLAIN else step.names,
                step.value.constant,
            )
            for step in self.steps
        )
        self.group = _plans(rule.group)


def _plans(rules: Sequence[SegmentRule]) -> dict[str, list[_Plan]]:
    table: dict[str, list[_Plan]] = {}
    for rule in rules:
        table.setdefault(rule.tag, []).append(_Plan(rule))
    return table


_SECTION_PLANS = PerObject()


_LIST_TARGETS = PerObject()


def _list_targets(guide: Guide) -> list[str]:
    """The lists the sections' rules fill (``lines``), once per guide."""
    return [rule.target[:-2] for s in guide.sections for rule in s.rules if rule.target.endswith("[]")]


def _section_plans(section: Section) -> dict[str, list[_Plan]]:
    return _SECTION_PLANS.derive(section, lambda made: _plans(made.rules))


_SECTIONS = PerObject()


def _sections(guide: Guide) -> dict[str, Section]:
    """The sections by the UNS code that opens them, once per guide."""
    return _SECTIONS.derive(guide, lambda made: {section.opened_by: section for section in made.sections})


class _Frame:
    """An open group while reading: its rules, the object it fills and the list item it belongs to."""

    __slots__ = ("plans", "obj", "prefix", "item", "counts")

    def __init__(self, plans: dict[str, list[_Plan]], obj: dict[str, Any], prefix: str, item: str) -> None:
        self.plans = plans
        self.obj = obj
        self.prefix = prefix  # domain path of obj, with a trailing dot ("" for the root)
        self.item = item  # "lines[0]", "" for the message
        self.counts: dict[int, int] = {}  # id(plan) -> matches, for plans with a repeat limit


def read_message(guide: Guide, message: Message, decimal_mark: str = ".") -> Reading:
    """Walk one message against ``guide`` (UNH and UNT aside). The lists the
    sections' rules fill are there even when empty (a CUSDEC without lines has
    ``lines == []``, which the domain model then refuses)."""
    data: dict[str, Any] = {name: [] for name in _LIST_TARGETS.derive(guide, _list_targets)}
    reading = Reading(data=data)
    reference = message.reference
    sections = _sections(guide)
    section = guide.sections[0]
    stack = [_Frame(_section_plans(section), data, "", "")]
    layout = reading.layout
    layout[""] = [(1, "UNH")]
    seen = reading.seen
    sources = reading.sources
    for index, segment in enumerate(message.segments, start=1):
        tag = segment.tag
        if tag == "UNH" or tag == "UNT":
            continue
        if tag == "UNS":
            code = segment.get(1)
            seen[f"UNS+{code}"] = (index, segment)
            section = sections.get(code) or guide.sections[-1]
            stack = [_Frame(_section_plans(section), data, "", f"UNS+{code}")]
            continue
        depth, plan = _match(stack, segment)
        if plan is None:
            if len(stack) == 1 and section.strict:
                where = source_location(reference, (index, tag, None, None))
                reading.findings.append(Finding("14", section.strict.format(tag=tag), where))
            else:
                layout.setdefault(stack[-1].item, []).append((index, tag))
            continue
        if depth + 1 < len(stack):
            del stack[depth + 1 :]
        frame = stack[depth]
        if plan.repeat:
            frame.counts[id(plan)] = frame.counts.get(id(plan), 0) + 1
        if plan.seen:
            seen[plan.seen] = (index, segment)
        if plan.kind == 0:
            obj, prefix, item = frame.obj, frame.prefix, frame.item
        else:
            obj, prefix, item = _open(plan, frame, reading, index)
        layout.setdefault(item, []).append((index, tag))
        elements = segment.elements
        for (
            step,
            mode,
            element,
            component,
            if_given,
            path,
            t_tag,
            t_element,
            t_component,
            skip_empty,
            read,
            name,
            expected,
        ) in plan.fast:
            if mode == _OTHER:
                _read_value(reading, plan.rule, step, segment, index, obj, prefix, reference, decimal_mark)
                continue
            # the common cases, inline (a call per value was a fifth of the walk)
            parts = elements[element] if len(elements) > element else ()
            raw = parts[component] if len(parts) > component else ""
            if mode == _CHECK:
                if raw != expected:  # the code is not the one expected (or is missing): said there
                    _read_value(reading, plan.rule, step, segment, index, obj, prefix, reference, decimal_mark)
                continue
            if raw == "":
                if if_given:
                    continue
                sources[prefix + path] = (index, t_tag, t_element, t_component)
                if skip_empty:
                    continue
            else:
                sources[prefix + path] = (index, t_tag, t_element, t_component)
            converted: Any = raw
            if read is not None:
                try:
                    converted = read(raw, segment, step.value, decimal_mark)
                except ValueProblem as problem:
                    _unread(reading, plan.rule, step, problem, prefix, reference)
                    continue
                if converted is None:
                    continue
            if mode == _PLAIN:
                obj[name] = converted
            else:
                _set(obj, name, converted)
        if plan.group:
            stack.append(_Frame(plan.group, obj, prefix, item))
    return reading


def _match(stack: list[_Frame], segment: Segment) -> tuple[int, _Plan | None]:
    """The innermost open group with a rule for ``segment`` (and room for one more)."""
    tag = segment.tag
    for depth in range(len(stack) - 1, -1, -1):
        frame = stack[depth]
        plans = frame.plans.get(tag)
        if plans is None:
            continue
        for plan in plans:
            if plan.qualifier:
                element, component = plan.select
                elements = segment.elements
                parts = elements[element] if len(elements) > element else ()
                if (parts[component] if len(parts) > component else "") != plan.qualifier:
                    continue
            if plan.also and not all(_code_at(segment, *where) for where in plan.also):
                continue
            if plan.repeat and frame.counts.get(id(plan), 0) >= plan.repeat:
                continue
            return depth, plan
    return 0, None


def _code_at(segment: Segment, element: int, component: int, code: str) -> bool:
    elements = segment.elements
    parts = elements[element] if len(elements) > element else ()
    return (parts[component] if len(parts) > component else "") == code


def _open(plan: _Plan, frame: _Frame, reading: Reading, index: int) -> tuple[dict[str, Any], str, str]:
    """The object the rule's values fill, its path prefix, and its list item."""
    name = plan.name
    obj: dict[str, Any]
    if plan.kind >= 2:
        items = frame.obj.setdefault(name, [])
        if plan.kind == 3:
            position = reading.nth[id(plan)] = reading.nth.get(id(plan), -1) + 1
            while len(items) <= position:
                items.append({})
            obj = items[position]
        else:
            obj = {}
            items.append(obj)
            position = len(items) - 1
        path = f"{frame.prefix}{name}[{position}]"
        reading.sources.setdefault(path, (index, plan.tag, None, None))
        return obj, path + ".", path
    path = frame.prefix + name
    reading.sources[path] = (index, plan.tag, None, None)
    obj = frame.obj.setdefault(name, {})
    return obj, path + ".", frame.item


def _read_value(
    reading: Reading,
    rule: SegmentRule,
    step: _Step,
    segment: Segment,
    index: int,
    obj: dict[str, Any],
    prefix: str,
    reference: str,
    mark: str,
) -> None:
    """One value of a segment: a check of a code, a repeated value, a value of several fields
    or of a nested path, a joined element (``read_message`` reads the plain ones inline)."""
    elements = segment.elements
    parts = elements[step.element] if len(elements) > step.element else ()
    if step.joined_from >= 0:
        raw = " ".join(part for part in parts[step.joined_from :] if part)
    else:
        raw = parts[step.component] if len(parts) > step.component else ""
    value = step.value
    if step.kind != _FIELD:
        if step.kind == _EXPECT:
            if raw == value.constant or not (raw or value.expect == "always"):
                return
            message = value.mismatch.format(value=raw, expected=value.constant)
            if value.failed_path:
                reading.failed.add(prefix + value.failed_path)
        else:
            owner, at = (obj, prefix) if _get(obj, value.same_as) is not None else (reading.data, "")
            expected = _get(owner, value.same_as)
            if not (expected and raw and raw != expected):
                return
            message = value.mismatch.format(value=raw, expected=expected)
            reading.failed.add(at + value.same_as)
        where = source_location(reference, (index, *step.tail))
        reading.findings.append(Finding("12", message, where))
        return
    source: Source = (index, *step.tail)
    if value.repeats:
        items = obj.setdefault(value.path, [])
        reading.sources[f"{prefix}{value.path}[{len(items)}]"] = source
        items.append(raw)
        return
    if raw == "" and value.only_if_given:
        return
    for name in step.marks:
        reading.sources[prefix + name] = source
    if raw == "" and step.skip_empty:
        return
    if step.codec is None:
        _set(obj, step.names, raw)
    else:
        _convert(reading, rule, step, segment, raw, obj, prefix, reference, mark)


def _convert(
    reading: Reading,
    rule: SegmentRule,
    step: _Step,
    segment: Segment,
    raw: str,
    obj: dict[str, Any],
    prefix: str,
    reference: str,
    mark: str,
) -> None:
    """Set the field(s) of ``step`` to what its codec reads in ``raw``, or record the codec's problem."""
    codec = step.codec
    assert codec is not None
    try:
        converted = codec.read(raw, segment, step.value, mark)
    except ValueProblem as problem:
        _unread(reading, rule, step, problem, prefix, reference)
        return
    if converted is None:
        return
    if step.fills:
        obj.update(converted)
    else:
        _set(obj, step.names, converted)


def _unread(
    reading: Reading, rule: SegmentRule, step: _Step, problem: ValueProblem, prefix: str, reference: str
) -> None:
    """Record that the codec of ``step`` could not read its text: the finding, at the value's source."""
    value = step.value
    assert step.codec is not None
    if step.codec.own_message:
        text = str(problem)
    elif value.problem_prefix:
        text = f"{value.problem_prefix}: {problem}"
    else:
        text = f"{guide_label(rule, value, prefix + value.path)}: {problem}"
    source = reading.sources[prefix + step.marks[0]]
    reading.findings.append(Finding(problem.code, text, source_location(reference, source)))
    reading.failed.update(prefix + name for name in step.marks)


def _set(obj: dict[str, Any], names: tuple[str, ...], converted: Any) -> None:
    """Set the field at ``names`` (``vendor.name``: the objects on the way made when missing)."""
    target = obj
    for name in names[:-1]:
        target = target.setdefault(name, {})
    target[names[-1]] = converted


def _get(obj: Any, path: str) -> Any:
    for name in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(name)
    return obj


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
    "Reading",
    "Section",
    "SegmentRule",
    "Source",
    "Value",
    "guide_label",
    "guide_markdown",
    "read_message",
    "source_location",
    "write_segments",
]
