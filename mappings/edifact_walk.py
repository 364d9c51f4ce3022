"""Reading one EDIFACT message against a guide (``mappings.edifact_guide``): the
guide compiled, once, into the walk that reads its messages.

The walk follows the directory's group semantics: a segment belongs to the
innermost open group that has a rule for it (and room for one more);
otherwise the group closes and its parent is asked. A segment no rule takes
is left to the directory check (``validators.directory``), which reports
layout errors; before the first group of a ``strict`` section it is reported.

Which groups are open is a *state*: the section and the rules whose groups
are open, innermost last. A guide has few of them (one per rule with a group,
one per section), so the compiler enumerates them all and, for every state
and every tag a rule of an open group takes, writes the Python function that
reads such a segment there: the rules that may take it, tried in the guide's
order (innermost group first) by their qualifiers written in as constants,
then the taking rule's values read in straight-line code (positions, paths,
codecs and the tails of their sources written in), and the state the walk is
in next. A message then costs one dict look-up and one call per segment,
not a search through the open groups and a loop over each rule's values.
The source is compiled with ``compile`` (as ``dataclasses`` does); what it
may not write as a literal (codecs, values, rules) it names in its globals.

Every value read can say the segment, element and component it came from,
so that any later error about the field can be placed. The walk does not write
that down value by value: it records each segment it reads (its position, the
list item and object it filled, the rule that took it), and ``Sources`` works
out the fields' sources from those records when first asked (most messages
have no finding to place). ``Reading`` holds what a walk found.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

from diagnostics import Finding
from mappings.derived import PerObject
from mappings.edifact_guide import Codec, Decimals, Guide, SegmentRule, Source, Value, guide_label, source_location
from mappings.edifact_values import ValueProblem, parse_decimal
from parsers.edifact.model import Message, Segment

Take = tuple[str, str, int, Segment, "_Plan | None"]
"""A segment the walk read: the list item it belongs to (``lines[0]``; ``""``
for the message), the domain path of the object it filled with a trailing dot,
its position, the segment, and the plan of the rule that took it (None: no rule
of an open group took it)."""


class Reading:
    """What ``read_message`` found: the data for the domain model, the
    segments read (``takes``; read ``sources`` and ``layout`` from them once the
    walk is done), the guide's own findings and the paths already reported
    (pydantic need not repeat them)."""

    __slots__ = ("data", "takes", "findings", "failed", "seen", "nth", "sources")

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.takes: list[Take] = []
        self.findings: list[Finding] = []
        self.failed: set[str] = set()
        self.seen: dict[str, tuple[int, Segment]] = {}  # "UNS+D" / "CNT+5" … → its last segment
        self.nth: dict[int, int] = {}  # an ``nth`` rule's place in the guide → the last item it filled
        self.sources = Sources(self.takes)

    @property
    def layout(self) -> dict[str, list[tuple[int, str]]]:
        """The (position, tag) of each segment of the message (UNH first), per list item
        (``lines[0]`` …) and for the message (``""``): those no rule took too."""
        layout: dict[str, list[tuple[int, str]]] = {"": [(1, "UNH")]}
        for item, _prefix, index, segment, _plan in self.takes:
            layout.setdefault(item, []).append((index, segment.tag))
        return layout


class _Plan:
    """What a rule's take says of the sources: the object or item it opens
    (``opens``: "object", "item" or ""), and per value it reads into a field
    (position, ``repeats``, ``only_if_given``, the fields it fills)."""

    __slots__ = ("tag", "opens", "values")

    def __init__(self, rule: SegmentRule) -> None:
        self.tag = rule.tag
        self.opens = "" if not rule.target else "item" if rule.target.endswith("[]") else "object"
        self.values = tuple(
            (_where(value), value, value.codec.fills or (value.path,))
            for value in rule.values
            if value.is_read and not value.expect and not value.same_as
        )


def _where(value: Value) -> tuple[int, int | None]:
    """The element and component a value's source names (a whole joined element: no component)."""
    return value.element, None if value.joined and value.component == 1 else value.component


class Sources(Mapping[str, Source]):
    """Where each field of a reading came from (domain path → source), worked
    out from the walk's takes, in the order the walk read them, when first asked."""

    __slots__ = ("_takes", "_made")

    def __init__(self, takes: list[Take]) -> None:
        self._takes = takes
        self._made: dict[str, Source] | None = None

    def __getitem__(self, path: str) -> Source:
        return self._sources()[path]

    def __contains__(self, path: object) -> bool:
        return path in self._sources()

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources())

    def __len__(self) -> int:
        return len(self._sources())

    def _sources(self) -> dict[str, Source]:
        made = self._made
        if made is None:
            made = self._made = _work_out(self._takes)
        return made


def _work_out(takes: list[Take]) -> dict[str, Source]:
    """The sources the takes give, as the walk would have written them one by one."""
    sources: dict[str, Source] = {}
    repeated: dict[str, int] = {}  # a ``repeats`` list's path → its items so far
    for _item, prefix, index, segment, plan in takes:
        if plan is None:
            continue
        tag = plan.tag
        if plan.opens == "object":
            sources[prefix[:-1]] = (index, tag, None, None)
        elif plan.opens == "item":
            sources.setdefault(prefix[:-1], (index, tag, None, None))
        for (element, component), value, marks in plan.values:
            source = (index, tag, element, component)
            if value.repeats:
                path = prefix + value.path
                count = repeated.get(path, 0)
                repeated[path] = count + 1
                sources[f"{path}[{count}]"] = source
                continue
            if value.only_if_given and not _given(segment, value):
                continue
            for mark in marks:
                sources[prefix + mark] = source
    return sources


def _given(segment: Segment, value: Value) -> bool:
    """Whether the segment has text where ``value`` reads (from its component on, when joined)."""
    elements = segment.elements
    parts = elements[value.element - 1] if len(elements) >= value.element else ()
    start = (value.component or 1) - 1
    return any(parts[start:]) if value.joined else len(parts) > start and bool(parts[start])


Frame = tuple[dict[str, Any], str, str, dict[int, int] | None]
"""An open group while reading: the object it fills, that object's domain path
with a trailing dot (``""`` for the root), the list item it belongs to
(``lines[0]``; ``""`` for the message, ``UNS+D`` after an UNS) and, when one of
its rules may match only so often, how often each did (by the rule's place)."""

Handler = Callable[[Segment, int, list[Frame], Reading, list[Take], str, str], "State | None"]
"""Reads one segment in one state: (segment, its position, the open groups,
the reading, its takes, the decimal mark, the message reference) → the next state,
or None when no rule of an open group takes it."""

State = dict[str | None, Handler]
"""A state's handlers by tag; ``None``: what is done with a segment no rule of an open group takes (it
returns the state)."""


def read_message(guide: Guide, message: Message, decimal_mark: str = ".") -> Reading:
    """Walk one message against ``guide`` (UNH and UNT aside). The lists the
    sections' rules fill are there even when empty (a CUSDEC without lines has
    ``lines == []``, which the domain model then refuses)."""
    walk: _Walk = _WALKS.derive(guide, _compile)
    data: dict[str, Any] = {}
    for name in walk.lists:
        data[name] = []
    reading = Reading(data)
    takes = reading.takes
    frames: list[Frame] = [(data, "", "", {})]
    reference = message.reference
    state = walk.start
    for index, segment in enumerate(message.segments, start=1):
        try:
            handler = state[segment.tag]
        except KeyError:  # a tag no rule of an open group takes
            handler = state[None]
        state = handler(segment, index, frames, reading, takes, decimal_mark, reference) or cast(
            "State", state[None](segment, index, frames, reading, takes, decimal_mark, reference)
        )  # a state's unmatched handler returns the state
    return reading


# -- What the walk calls when a value is not the common case --------------------------------------


def _unread(
    reading: Reading,
    rule: SegmentRule,
    value: Value,
    marks: tuple[str, ...],
    problem: ValueProblem,
    prefix: str,
    source: Source,
    reference: str,
) -> None:
    """Record that the codec of ``value`` could not read its text: the finding, at the value's source."""
    if value.codec.own_message:
        text = str(problem)
    elif value.problem_prefix:
        text = f"{value.problem_prefix}: {problem}"
    else:
        text = f"{guide_label(rule, value, prefix + value.path)}: {problem}"
    reading.findings.append(Finding(problem.code, text, source_location(reference, source)))
    reading.failed.update(prefix + name for name in marks)


def _unexpected(reading: Reading, value: Value, raw: str, prefix: str, source: Source, reference: str) -> None:
    """A fixed code that is not the one the guide expects (``Value.expect``)."""
    message = value.mismatch.format(value=raw, expected=value.constant)
    if value.failed_path:
        reading.failed.add(prefix + value.failed_path)
    reading.findings.append(Finding("12", message, source_location(reference, source)))


def _same_as(
    reading: Reading, value: Value, raw: str, obj: dict[str, Any], prefix: str, source: Source, reference: str
) -> None:
    """A code compared with a field already read, of the group's object, else of the root (``Value.same_as``)."""
    if not raw:
        return
    expected, at = _get(obj, value.same_as), prefix
    if expected is None:
        expected, at = _get(reading.data, value.same_as), ""
    if not expected or raw == expected:
        return
    message = value.mismatch.format(value=raw, expected=expected)
    reading.failed.add(at + value.same_as)
    reading.findings.append(Finding("12", message, source_location(reference, source)))


def _get(obj: Any, path: str) -> Any:
    for name in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(name)
    return obj


_RUNTIME: dict[str, Any] = {
    "Finding": Finding,
    "ValueProblem": ValueProblem,
    "parse_decimal": parse_decimal,
    "source_location": source_location,
    "_unread": _unread,
    "_unexpected": _unexpected,
    "_same_as": _same_as,
}
"""What the generated functions call by name."""


# -- The compiler ---------------------------------------------------------------------------------


class _Node:
    """A rule where it stands in the guide (one rule object may stand in several
    groups, each its own count of matches): its number there and its group's nodes."""

    __slots__ = ("rule", "number", "group")

    def __init__(self, rule: SegmentRule, numbers: Iterator[int]) -> None:
        self.rule = rule
        self.number = next(numbers)
        self.group = tuple(_Node(child, numbers) for child in rule.group)


_ARGS = "segment, index, frames, reading, takes, mark, reference"


@dataclass(frozen=True)
class _Walk:
    """A guide compiled for reading: the state of a message's start, the lists its sections fill."""

    start: State
    lists: list[str]


def _compile(guide: Guide) -> _Walk:
    compiler = _Compiler(guide)
    return _Walk(compiler.start, compiler.lists)


class _Compiler:
    """Writes and compiles the handlers of every state of a guide."""

    def __init__(self, guide: Guide) -> None:
        numbers = itertools.count()
        self.sections = [tuple(_Node(rule, numbers) for rule in section.rules) for section in guide.sections]
        self.strict = [section.strict for section in guide.sections]
        self.lists = [rule.target[:-2] for s in guide.sections for rule in s.rules if rule.target.endswith("[]")]
        self.namespace: dict[str, Any] = dict(_RUNTIME)
        self.source: list[str] = []  # the functions' source, one each
        self.states: dict[tuple[int, tuple[int, ...]], str] = {}  # (section, open nodes' numbers) → its name
        self.tables: dict[str, dict[str | None, str]] = {}  # a state's name → its handlers' names by tag
        self.handlers: dict[str, str] = {}  # a handler's body → its name
        self.plans: dict[int, _Plan] = {}  # a rule's id → its plan
        self.pending: list[tuple[str, int, tuple[_Node, ...]]] = []
        starts = [self._state(number, ()) for number in range(len(self.sections))]
        while self.pending:
            self._write_state(*self.pending.pop())
        by_code = {section.opened_by: start for section, start in zip(guide.sections, starts, strict=True)}
        self._write_uns(by_code, starts[-1])
        name = "/".join(guide.identifier)
        for source in self.source:  # one at a time: compiling all at once held megabytes of syntax tree
            exec(compile(source, f"<guide walk {name}>", "exec"), self.namespace)
        for state, handlers in self.tables.items():
            table: State = self.namespace[state]
            table.update({tag: self.namespace[handler] for tag, handler in handlers.items()})
        self.start: State = self.namespace[starts[0]]

    # states ---------------------------------------------------------------------------------

    def _state(self, section: int, shape: tuple[_Node, ...]) -> str:
        """The name of the state with ``shape``'s groups open in ``section`` (written later when new)."""
        key = (section, tuple(node.number for node in shape))
        name = self.states.get(key)
        if name is None:
            name = self.states[key] = f"_s{len(self.states)}"
            self.namespace[name] = {}
            self.pending.append((name, section, shape))
        return name

    def _write_state(self, name: str, section: int, shape: tuple[_Node, ...]) -> None:
        """The state's handler of each tag its open groups take, and of the segments they do not."""
        levels = [self.sections[section], *(node.group for node in shape)]  # the open groups' rules, outermost first
        tags = dict.fromkeys(node.rule.tag for level in levels for node in level)
        unmatched = f"{name}_unmatched"
        if not shape and self.strict[section]:  # before the section's first group
            self.namespace[f"{unmatched}_text"] = self.strict[section]
            self.source.append(
                f"def {unmatched}({_ARGS}):\n"
                "    where = source_location(reference, (index, segment.tag, None, None))\n"
                f"    reading.findings.append(Finding('14', {unmatched}_text.format(tag=segment.tag), where))\n"
                f"    return {name}"
            )
        else:  # recorded in the open group's item, for the layout
            self.source.append(
                f"def {unmatched}({_ARGS}):\n"
                "    frame = frames[-1]\n"
                "    takes.append((frame[2], frame[1], index, segment, None))\n"
                f"    return {name}"
            )
        handlers: dict[str | None, str] = {}
        for number, tag in enumerate(tags):
            candidates = [
                (depth, node) for depth in range(len(shape), -1, -1) for node in levels[depth] if node.rule.tag == tag
            ]
            handlers[tag] = self._write_handler(f"{name}_{number}", section, shape, candidates)
        skip = f"{name}_skip"
        self.source.append(f"def {skip}({_ARGS}):\n    return {name}")
        handlers.update({"UNH": skip, "UNT": skip, "UNS": "_uns", None: unmatched})
        self.tables[name] = handlers

    def _write_uns(self, by_code: dict[str, str], last: str) -> None:
        """UNS opens the section of its code (an unknown code: the last); the groups close."""
        self.namespace["_sections"] = {code: self.namespace[state] for code, state in by_code.items()}
        self.source.append(
            f"def _uns({_ARGS}):\n"
            "    code = segment.get(1)\n"
            "    item = f'UNS+{code}'\n"
            "    reading.seen[item] = (index, segment)\n"
            "    del frames[1:]\n"
            "    frames[0] = (frames[0][0], '', item, {})\n"
            f"    return _sections.get(code, {last})"
        )

    # one tag in one state ---------------------------------------------------------------------

    def _write_handler(
        self, name: str, section: int, shape: tuple[_Node, ...], candidates: list[tuple[int, _Node]]
    ) -> str:
        """The function reading a segment of one tag in one state; states whose
        function would read the same (the same rules tried, the same states next) share it."""
        code = _Code(self.namespace)
        code.indent = 1
        code.line("elements = segment.elements")
        code.line("count = len(elements)")
        for depth, node in candidates:
            rule = node.rule
            tests = []
            if rule.qualifier:
                tests.append(f"{code.code_at(rule.select[0] - 1, rule.select[1] - 1)} == {rule.qualifier!r}")
            for element, component, wanted in rule.also:
                tests.append(f"{code.code_at(element - 1, component - 1)} == {wanted!r}")
            if rule.repeat:
                tests.append(f"frames[{depth}][3].get({node.number}, 0) < {rule.repeat}")
            if tests:
                code.line(f"if {' and '.join(tests)}:")
                code.indent += 1
            with code.scope():
                self._write_take(code, depth, len(shape), node)
                after = self._state(section, shape[:depth] + ((node,) if rule.group else ()))
                code.line(f"return {after}")
            if not tests:  # it takes every segment of its tag: the rules after it never do
                break
            code.indent -= 1
        else:
            code.line("return None")
        body = code.text()
        shared = self.handlers.get(body)
        if shared is None:
            shared = self.handlers[body] = name
            self.source.append(f"def {name}({_ARGS}):\n{body}")
        return shared

    def _write_take(self, code: _Code, depth: int, open_depth: int, node: _Node) -> None:
        """``node``'s rule takes the segment: the groups inside its own close, its object
        opens, its values are read, and its group opens."""
        rule = node.rule
        if depth < open_depth:
            code.line(f"del frames[{depth + 1}:]")
        code.line(f"frame = frames[{depth}]")
        if rule.repeat:
            code.line(f"frame[3][{node.number}] = frame[3].get({node.number}, 0) + 1")
        if rule.remembered:
            code.line(f"reading.seen[{rule.tag + '+' + rule.qualifier!r}] = (index, segment)")
        name = rule.target.removesuffix("[]")
        if not rule.target:
            code.line("obj, prefix, item = frame[0], frame[1], frame[2]")
        elif not rule.target.endswith("[]"):
            code.line(f"obj = frame[0].setdefault({name!r}, {{}})")
            code.line(f"prefix, item = frame[1] + {name + '.'!r}, frame[2]")
        else:
            code.line(f"items = frame[0].setdefault({name!r}, [])")
            if rule.nth:
                code.line(f"position = reading.nth[{node.number}] = reading.nth.get({node.number}, -1) + 1")
                code.line("while len(items) <= position:")
                code.line("    items.append({})")
                code.line("obj = items[position]")
            else:
                code.line("obj = {}")
                code.line("items.append(obj)")
                code.line("position = len(items) - 1")
            code.line(f"item = f'{{frame[1]}}{name}[{{position}}]'")
            code.line("prefix = item + '.'")
        plan = self.plans.setdefault(id(rule), _Plan(rule))
        code.line(f"takes.append((item, prefix, index, segment, {code.name(plan)}))")
        for value in rule.values:
            if value.is_read:
                self._write_value(code, rule, value)
        if rule.group:
            counts = "{}" if any(child.repeat for child in rule.group) else "None"
            code.line(f"frames.append((obj, prefix, item, {counts}))")

    # one value --------------------------------------------------------------------------------

    def _write_value(self, code: _Code, rule: SegmentRule, value: Value) -> None:
        element, component = value.element - 1, (value.component or 1) - 1
        if value.joined:
            parts = code.parts(element) + (f"[{component}:]" if component else "")
            code.line(f"raw = ' '.join(filter(None, {parts}))")
        else:
            code.line(f"raw = {code.text_at(element, component)}")
        where = (value.element, None if value.joined and value.component == 1 else value.component)
        source = f"(index, {rule.tag!r}, {where[0]!r}, {where[1]!r})"
        if value.expect:
            check = f"raw != {value.constant!r}" + ("" if value.expect == "always" else " and raw")
            code.line(f"if {check}:")
            code.line(f"    _unexpected(reading, {code.name(value)}, raw, prefix, {source}, reference)")
            return
        if value.same_as:
            code.line(f"_same_as(reading, {code.name(value)}, raw, obj, prefix, {source}, reference)")
            return
        if value.repeats:
            code.line(f"obj.setdefault({value.path!r}, []).append(raw)")
            return
        marks = value.codec.fills or (value.path,)
        opened = 0
        if value.only_if_given or not value.read_empty:
            code.line("if raw:")
            opened += 1
        if type(value.codec) is Codec:  # plain text: no call
            code.line(f"{_setter(value.path)} = raw", opened)
            return
        code.line("try:", opened)
        if type(value.codec) is Decimals:  # a number (most values read): what ``Decimals.read`` does, one call less
            code.line("    converted = parse_decimal(raw, mark)", opened)
        else:
            code.line(f"    converted = {code.name(value.codec)}.read(raw, segment, {code.name(value)}, mark)", opened)
        code.line("except ValueProblem as problem:", opened)
        unread = (
            f"_unread(reading, {code.name(rule)}, {code.name(value)}, {marks!r}, problem, prefix, {source}, reference)"
        )
        code.line(f"    {unread}", opened)
        code.line("else:", opened)
        code.line("    if converted is not None:", opened)
        store = "obj.update(converted)" if value.codec.fills else f"{_setter(value.path)} = converted"
        code.line(f"        {store}", opened)


def _setter(path: str) -> str:
    """Where a value at ``path`` is stored (``vendor.name``: the objects on the way made when missing)."""
    *parents, last = path.split(".")
    return "obj" + "".join(f".setdefault({name!r}, {{}})" for name in parents) + f"[{last!r}]"


class _Code:
    """The source of one handler: its lines, the element lists it has taken out
    (``p3 = elements[3] …``, once per block that may use them), the objects it names."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace
        self.lines: list[str] = []
        self.indent = 0
        self.taken: list[set[int]] = [set()]
        self.codes: set[str] = set()  # the texts taken out for the rules' tests (``c0_0``)

    def line(self, text: str, extra: int = 0) -> None:
        self.lines.append("    " * (self.indent + extra) + text)

    def parts(self, element: int) -> str:
        """The name of element ``element``'s components (0-based), taken out when not yet."""
        if not any(element in taken for taken in self.taken):
            self.line(f"p{element} = elements[{element}] if count > {element} else ()")
            self.taken[-1].add(element)
        return f"p{element}"

    def text_at(self, element: int, component: int) -> str:
        """An expression for the text at a 0-based position (``""`` when absent)."""
        parts = self.parts(element)
        return f"({parts}[{component}] if len({parts}) > {component} else '')"

    def code_at(self, element: int, component: int) -> str:
        """The name of the text at a 0-based position, taken out once for the rules a handler tries."""
        name = f"c{element}_{component}"
        if name not in self.codes:
            self.line(f"{name} = {self.text_at(element, component)}")
            self.codes.add(name)
        return name

    def scope(self) -> _Scope:
        return _Scope(self)

    def name(self, obj: Any) -> str:
        """A global name for an object the source cannot write as a literal."""
        name = f"_k{id(obj)}"
        self.namespace[name] = obj
        return name

    def text(self) -> str:
        return "\n".join(self.lines)


class _Scope:
    """A block whose element lists are its own (a rule tried after it must take them out again)."""

    def __init__(self, code: _Code) -> None:
        self.code = code

    def __enter__(self) -> None:
        self.code.taken.append(set())

    def __exit__(self, *exc: object) -> None:
        self.code.taken.pop()


_WALKS = PerObject()


__all__ = ["Reading", "read_message"]
