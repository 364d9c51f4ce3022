"""An XML message guide as data, and the one reader and one writer it drives.

The XML twin of ``mappings.edifact_guide``. A guide is a tree of ``Element``
rules that mirrors the XSD's sequences: a rule names an element (its local
name), the domain field its text carries (relative to the object its group
fills), how the text reads and writes (``Codec``), its ``Attribute``s and the
rules of its children. ``target`` says what an element fills: ``"name"`` the
object ``name``, ``"name[]"`` a new item of the list ``name`` per occurrence.
A repeated element whose kinds are told apart by a child (``DutyTaxFee`` by
its ``TypeCode``) has one rule per kind (``select`` names the child, whose
``constant`` is the kind).

``read_element`` walks one parsed element against the guide, once, in
document order: every field it sets remembers the line of the element it came
from; an element a rule has no room for (``repeat``) is left to the caller as
``Surplus``, and the attributes the guide checks against a value (a currency)
as ``AttributeCheck``s. The XPath of a field and how messages name it follow
from the guide (``XmlGuide.xpath_of``, ``XmlGuide.describe``). ``write_element``
runs the same rules the other way (domain object → element), and
``guide_markdown`` renders them as the mapping tables of docs/formats/.

The reader is made once per guide into Python functions (``_ReadCode``): one
``if`` per element name, a field's reading written out in place. Only lxml's
public API is used (iteration, ``tag``, ``text``, ``get``, ``sourceline``).
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NamedTuple

from lxml import etree

from diagnostics import Finding, Location
from diagnostics.field_paths import parent_path
from domain.identifiers import is_ascii_digits
from mappings.derived import PerObject

# -- Value codecs: element text ↔ domain value ---------------------------------------------------


class BadValue(ValueError):
    """Text that does not make a value of its field; ``code``: the finding's code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Codec:
    """Turns an element's text into a domain value and back. ``read`` returns
    None for a value that is as good as absent (the field stays unset) and
    raises ``BadValue`` for text that does not fit; ``write`` returns None
    (or ``""``) for a value that is not written."""

    name = "text"
    common: str | None = None
    """A Python expression, true when the str ``text`` is its own value (``read`` would
    return it unchanged), cheaper than ``read``. The reader made from a guide (``_ReadCode``)
    tests it in place and calls ``read`` only for the other texts: most texts of a file are
    the common case. None: every text goes through ``read``."""

    def read(self, text: str | None) -> Any:
        return text

    def write(self, value: Any) -> str | None:
        return str(value.value if isinstance(value, Enum) else value)


class Text(Codec):
    """xs:string content as it stands (the domain strips and checks it);
    ``blank_absent``: a blank text leaves the field unset."""

    def __init__(self, blank_absent: bool = False) -> None:
        self.blank_absent = blank_absent
        self.common = None if blank_absent else "True"

    def read(self, text: str | None) -> Any:
        if self.blank_absent and not (text and text.strip()):
            return None
        return text


class Stripped(Codec):
    """Text with the whitespace around it dropped, empty as absent."""

    name = "stripped"

    def read(self, text: str | None) -> Any:
        if text is None:
            return None
        return text.strip() or None


class Token(Codec):
    """xs:token content: whitespace collapsed, empty as absent."""

    name = "token"

    def read(self, text: str | None) -> Any:
        if text is None:
            return None
        return " ".join(text.split()) or None

    # not empty, no whitespace: every character ``str.split`` splits at but the space is unprintable
    common = "text and text.isprintable() and ' ' not in text"


DECIMAL_TEXT = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$")
"""xs:decimal's lexical form, in ASCII digits: ``Decimal`` (and pydantic) also
take ``1e3``, ``1_000``, ``NaN`` and other scripts' digits (Arabic-Indic "10" is 10)."""


class Decimals(Codec):
    """An xs:decimal in ASCII digits, left as text: pydantic reads it into the
    field's type and reports what does not fit (size, places, sign)."""

    name = "decimal"

    def read(self, text: str | None) -> Any:
        if text is None or DECIMAL_TEXT.match(text):  # the common case first: digits, nothing around them
            return text
        if not text.strip():
            return text
        if not DECIMAL_TEXT.match(text.strip()):
            raise BadValue("12", f"{text.strip()!r} is not a decimal number")
        return text

    def write(self, value: Any) -> str | None:
        return format(value, "f")

    common = "DECIMAL_TEXT.match(text)"


class Date102(Codec):
    """A date as ``CCYYMMDD`` (UN/EDIFACT 2379 format 102), a real calendar date."""

    name = "date CCYYMMDD"

    def read(self, text: str | None) -> Any:
        value = (text or "").strip()
        try:
            if len(value) != 8 or not is_ascii_digits(value):
                raise ValueError(value)
            return dt.date(int(value[0:4]), int(value[4:6]), int(value[6:8]))
        except ValueError:
            raise BadValue("12", f"{value!r} is not a date in the form CCYYMMDD") from None

    def write(self, value: Any) -> str | None:
        return str(value.strftime("%Y%m%d"))


class Integer(Codec):
    """Digits as an int (anything else leaves the field unset: the XSD's
    pattern has refused it); written with at least ``width`` digits."""

    name = "integer"

    def __init__(self, width: int = 0) -> None:
        self.width = width

    def read(self, text: str | None) -> Any:
        value = TOKEN.read(text)
        if value is None or not is_ascii_digits(value):
            return None
        return int(value)

    def write(self, value: Any) -> str | None:
        return f"{value:0{self.width}d}"


class Flag(Codec):
    """A code whose one value means something; any other leaves the field at
    its domain default (and the writer writes the rule's ``fallback``)."""

    name = "token"

    def __init__(self, code: str, meaning: Any) -> None:
        self.code, self.meaning = code, meaning

    def read(self, text: str | None) -> Any:
        return self.meaning if TOKEN.read(text) == self.code else None

    def write(self, value: Any) -> str | None:
        return self.code if value == self.meaning else None


TEXT, STRIPPED, TOKEN, DECIMAL, DATE_102, INTEGER = Text(), Stripped(), Token(), Decimals(), Date102(), Integer()


# -- The guide ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attribute:
    """An attribute of an element: a domain field it carries (``path``,
    relative to the element's object), or a value the writer puts there and
    the caller checks: ``constant`` (must be that code) or ``same_as`` (must
    equal that field of the root object, as read)."""

    name: str
    path: str = ""
    codec: Codec = TOKEN
    constant: str | None = None
    same_as: str = ""
    note: str = ""

    @property
    def checked(self) -> bool:
        return self.constant is not None or bool(self.same_as)


@dataclass(frozen=True)
class Element:
    """One element of the guide, in the XSD's sequence order.

    ``path``: the domain field its text carries, relative to the object it
    fills (``""``: none; ``"name[]"``: each occurrence adds a value to the
    list ``name``, which the writer does not write). ``target``: ``"name"``
    fills the object ``name``, ``"name[]"`` a new item of the list ``name``
    (``label``: how messages call one item, ``line``), ``"/name"`` the object
    ``name`` of the root (an element repeated in each item of a list: every
    occurrence after the first must say the same). ``write``: False for an
    element only read (an older shape's place of a field). ``select``: the child whose ``constant`` tells this
    kind of a repeated element from the others. ``constant``: the fixed text
    the writer writes; ``fallback``: what it writes when the field gives
    nothing and the parent is written anyway. ``occurs``: the XSD's
    maxOccurs; ``repeat``: how many the guide takes (0: all). ``keep_text``:
    the reader also keeps the token text as read (``Reading.texts``).
    """

    name: str
    path: str = ""
    codec: Codec = TOKEN
    children: tuple[Element, ...] = ()
    attributes: tuple[Attribute, ...] = ()
    target: str = ""
    select: str = ""
    constant: str | None = None
    fallback: str | None = None
    occurs: int = 1
    repeat: int = 0
    keep_text: bool = False
    write: bool = True
    status: str = "C"
    note: str = ""
    label: str = ""

    @property
    def kind(self) -> str | None:
        """The code of the ``select`` child that tells this kind (``CUD``), or None."""
        if not self.select:
            return None
        return next(child.constant for child in self.children if child.name == self.select)

    @property
    def step(self) -> str:
        """The element's XPath step (``[#]`` stands for a list item's position)."""
        if self.select:
            item = "[#]" if self.target.endswith("[]") else ""
            return f"{self.name}[{self.select}='{self.kind}']{item}"
        if self.target.endswith("[]") or self.path.endswith("[]"):
            return f"{self.name}[#]"
        return f"{self.name}[1]" if self.occurs > 1 and self.repeat == 1 else self.name

    @property
    def reads(self) -> bool:
        """Whether the reader has anything to do in it."""
        return bool(
            self.path
            or self.target
            or self.keep_text
            or any(attribute.path or attribute.checked for attribute in self.attributes)
            or any(child.reads for child in self.children)
        )


@dataclass(frozen=True)
class _Binding:
    xpath: str  # relative to the root element; "[#]" for each list position
    where: str | None  # how messages name the place ("Commodity/Classification/ID"); None: not named


@dataclass(frozen=True)
class XmlGuide:
    """One XML message guide: the root element (one message: a
    ``Declaration``) and the namespace of its elements."""

    name: str
    namespace: str
    root: Element

    def fields(self) -> dict[str, _Binding]:
        """Domain path (``invoice.number``, ``lines[].hs_code``; ``lines`` for
        the list's container and ``lines[]`` for an item) → its XPath and name."""
        return _FIELDS.derive(self, _bindings)

    def item_labels(self) -> dict[str, str]:
        """List name → how messages call one item (``lines`` → ``line``)."""
        return {
            rule.target[:-2]: rule.label for _, rule in walk(self.root) if rule.target.endswith("[]") and rule.label
        }

    def xpath_of(self, path: str | None) -> str:
        """The XPath, relative to the root element, of a domain path:
        ``lines[2].hs_code`` → ``/GoodsShipment[1]/GovernmentAgencyGoodsItem/Commodity[3]/Classification/ID``.
        Unknown paths fall back to their nearest known parent; ``""`` when none is known."""
        fields = self.fields()
        while path:
            binding = fields.get(_generic(path))
            if binding is not None:
                xpath = binding.xpath
                for position in re.findall(r"\[(\d+)\]", path):
                    xpath = xpath.replace("[#]", f"[{int(position) + 1}]", 1)
                return xpath.replace("[#]", "[1]")  # a root object read in a list item: the first
            path = parent_path(path)
        return ""

    def path_of(self, xpath: str) -> str | None:
        """The inverse of ``xpath_of``: the domain path of an XPath relative to the root
        element (``/GoodsShipment[1]/GovernmentAgencyGoodsItem/Commodity[3]/Classification/ID``
        → ``invoices[0].lines[2].hs_code``); a position left out reads as 1, an element the
        guide does not bind as its nearest bound ancestor; None when no ancestor is bound."""
        steps = [step for step in xpath.split("/") if step]
        while steps:
            wanted = "/" + "/".join(steps)
            fields = self.fields()
            for path, binding in fields.items():
                positions = _match_steps(binding.xpath, wanted)
                if positions is not None and path + "[]" not in fields:  # a list's item, not the list
                    for position in positions:
                        path = path.replace("[]", f"[{position - 1}]", 1)
                    return path
            steps.pop()
        return None

    def where(self, path: str) -> str | None:
        """How messages name the place of a domain path (``Commodity/Classification/ID``), or None."""
        binding = self.fields().get(_generic(path))
        return binding.where if binding is not None else None

    def describe(self, path: str) -> str:
        """How a message names a domain path: ``lines[2].hs_code`` → ``line 3
        hs_code (Commodity/Classification/ID)``; ``version`` → ``version
        (Declaration/VersionID)``; a path the guide does not place, bare."""
        binding = self.fields().get(_generic(path))
        label = path
        labels = self.item_labels()
        for match in reversed(list(re.finditer(r"(\w+)\[(\d+)\]\.", path))):  # the innermost item with a label
            item = labels.get(match.group(1))
            if item:
                label = f"{item} {int(match.group(2)) + 1} {path[match.end() :]}"
                break
        where = binding.where if binding is not None else None
        return f"{label} ({where})" if where else label


_FIELDS = PerObject()


def _bindings(guide: XmlGuide) -> dict[str, _Binding]:
    found: dict[str, _Binding] = {}
    _bind(guide.root, "", "", guide.root.name, "", found)
    return found


def walk(rule: Element) -> Iterator[tuple[int, Element]]:
    """Every rule under ``rule`` (not itself), in document order, with its depth."""
    for child in rule.children:
        yield 0, child
        for depth, inner in walk(child):
            yield depth + 1, inner


def _bind(rule: Element, prefix: str, xpath: str, anchor: str, relative: str, found: dict[str, _Binding]) -> None:
    """Record the bindings of ``rule``'s children: ``prefix`` is the domain
    path of the object they fill (with its dot), ``xpath`` the XPath of
    ``rule``, and ``anchor`` + ``relative`` how messages name ``rule`` (from
    the root, or from the list item it is in)."""
    for child in rule.children:
        here, there = f"{xpath}/{child.step}", f"{relative}/{child.step}"
        inner, inner_anchor, inner_relative = prefix, anchor, there
        if child.target.endswith("[]"):
            name = prefix + child.target[:-2]
            found[name] = _Binding(xpath, anchor + relative)
            found[name + "[]"] = _Binding(here, None)
            inner, inner_anchor, inner_relative = name + "[].", child.name, ""
        elif child.target.startswith("/"):
            found[child.target[1:]] = _Binding(here, anchor + there)
            inner = child.target[1:] + "."
        elif child.target:
            found[prefix + child.target] = _Binding(here, anchor + there)
            inner = prefix + child.target + "."
        if child.path:
            found[inner + child.path] = _Binding(here, inner_anchor + inner_relative)
        for attribute in child.attributes:
            if attribute.path:
                found[inner + attribute.path] = _Binding(
                    f"{here}/@{attribute.name}", f"{inner_anchor}{inner_relative}/@{attribute.name}"
                )
        _bind(child, inner, here, inner_anchor, inner_relative, found)


_STEP = re.compile(r"^(?P<name>[\w.@-]+)(?P<predicate>(?:\[[^\]\d#][^\]]*\])*)(?:\[(?P<position>\d+|#)\])?$")
"""One XPath step: a name, predicates such as ``[TypeCode='XCD']``, then a position (``[#]`` in a template)."""


def _match_steps(template: str, xpath: str) -> list[int] | None:
    """The positions the ``[#]`` of ``template`` stand for in ``xpath`` (a position left
    out reads as 1, a step without ``[#]`` may carry ``[1]``, a predicate of the template
    may be left out); None when they differ."""
    wanted = [_STEP.match(step) for step in template.split("/") if step]
    given = [_STEP.match(step) for step in xpath.split("/") if step]
    if len(wanted) != len(given):
        return None
    positions: list[int] = []
    for expected, step in zip(wanted, given, strict=True):
        if expected is None or step is None or step["name"] != expected["name"]:
            return None
        if step["predicate"] and step["predicate"] != expected["predicate"]:
            return None
        position = int(step["position"] or 1) if step["position"] != "#" else 1
        if expected["position"] == "#":
            positions.append(position)
        elif position != 1:
            return None
    return positions


def _generic(path: str) -> str:
    """``lines[2].hs_code`` → ``lines[].hs_code``."""
    return re.sub(r"\[\d+\]", "[]", path)


# -- Reading ------------------------------------------------------------------------------------


source_line: Callable[[etree._Element], int | None] = operator.attrgetter("sourceline")
"""The element's line in its document (typed here: lxml-stubs leave ``sourceline`` untyped)."""


@dataclass(frozen=True)
class Surplus:
    """An element a rule had no room for (``repeat``): not read. ``owner`` is
    the domain path of the object it would have filled (``lines[0]``, ``""``
    for the root); ``position``: its place among its siblings of its name."""

    rule: Element
    owner: str
    position: int
    line: int | None


class AttributeCheck(NamedTuple):
    """An attribute the guide checks (``Attribute.constant`` or ``same_as``),
    as found on the element of the field ``path`` (a tuple: a declaration has a
    few of them per line, and a frozen dataclass costs a microsecond to make)."""

    path: str
    attribute: Attribute
    given: str


@dataclass
class Reading:
    """What ``read_element`` found: the data for the domain model, the line
    each field came from, the guide's own findings (values that do not fit
    their codec) and the paths they are about, what is left to the caller
    (surplus elements, attribute checks) and the texts kept as read."""

    data: dict[str, Any]
    line: int | None
    sources: dict[str, int | None] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)
    surplus: list[Surplus] = field(default_factory=list)
    checks: list[AttributeCheck] = field(default_factory=list)
    texts: dict[str, str | None] = field(default_factory=dict)


Take = Callable[["_Reader", etree._Element, dict[str, Any], str], None]
"""What the reader does with one element: ``take(reader, element, obj, prefix)`` (``obj``: the
object the element's rule fills, ``prefix``: its domain path with its dot)."""

_TOKEN, _FIELD, _PASS, _FULL = "token", "field", "pass", "full"
"""What the reader does with an element of a rule (``_ReadPlan.form``): a field's text as an
xs:token and nothing else (most elements); a field's text through its codec, and its attributes
(an amount and its currency); only its children (a container such as ``Classification``); all
the rest, through ``_Reader.one`` (a list item, an object, a kept text)."""


class _ReadPlan:
    """A rule compiled for the reader, once per guide: its ``form``, its children's plans by
    Clark name (only the rules that read something), and the two functions made for it
    (``_ReadCode``): ``take`` for one element of the rule, ``walk`` for its children."""

    __slots__ = (
        "attributes",
        "codec",
        "form",
        "groups",
        "keep_text",
        "kind",
        "list_name",
        "path",
        "repeat",
        "rule",
        "select",
        "tag",
        "take",
        "walk",
        "target",
    )

    def __init__(self, rule: Element, namespace: str) -> None:
        self.rule = rule
        self.tag = f"{{{namespace}}}{rule.name}"
        self.path = rule.path
        self.codec = rule.codec
        self.keep_text = rule.keep_text
        self.repeat = rule.repeat
        self.list_name = rule.target[:-2] if rule.target.endswith("[]") else ""
        self.target = "" if self.list_name else rule.target
        self.select = f"{{{namespace}}}{rule.select}" if rule.select else ""
        self.kind = rule.kind
        self.attributes = tuple(attribute for attribute in rule.attributes if attribute.path or attribute.checked)
        self.groups: dict[str, list[_ReadPlan]] = {}
        for child in rule.children:
            if child.reads:
                self.groups.setdefault(f"{{{namespace}}}{child.name}", []).append(_ReadPlan(child, namespace))
        self.form = _FULL
        if not (self.list_name or self.target or self.keep_text or self.path.endswith("[]")):
            if not (self.path or self.attributes):
                self.form = _PASS
            elif self.path and not self.groups:
                self.form = _TOKEN if type(self.codec) is Token and not self.attributes else _FIELD
        self.take: Take
        self.walk: Take


class _ReadCode:
    """The reader of one guide as Python functions, made once from its plans: per plan, ``take``
    (one element of the rule) and ``walk`` (its children: one ``if`` per child name, in the
    guide's order, with a field's reading written out in place and a container's children
    walked in place). Made rather than interpreted: the walk is the reader's inner loop, every
    element of a file passes it once, and a table lookup and a call per element cost as much
    as lxml's own work on it. What is rare (a kind chosen by its code, a repeat, a list item,
    a value that does not fit) calls back into ``_Reader``."""

    def __init__(self, root: _ReadPlan) -> None:
        self.constants: dict[str, Any] = {
            "BadValue": BadValue,
            "AttributeCheck": AttributeCheck,
            "DECIMAL_TEXT": DECIMAL_TEXT,
        }
        self.names: dict[int, str] = {}
        self.wanted: list[tuple[_ReadPlan, str]] = []  # (plan, "take" or "walk"): the functions to make
        self._want(root, "walk")
        lines: list[str] = []
        for plan, function in self.wanted:  # grows while the functions are written
            lines += [f"def {function}_{self.names[id(plan)]}(reader, element, obj, prefix):", *self._head()]
            if function == "walk":
                self._walk(plan, "element", 1, lines)
            elif plan.form == _FULL and _fills(plan):
                self._fill(plan, lines)
            else:
                self._take(plan, "element", 1, lines)
        exec(compile("\n".join(lines), f"<xml reader of {root.rule.name}>", "exec"), self.constants)
        for plan, function in self.wanted:
            setattr(plan, function, self.constants[f"{function}_{self.names[id(plan)]}"])

    def _want(self, plan: _ReadPlan, function: str) -> None:
        """Have ``function`` made for ``plan`` (``one`` walks a plan's children, a chooser takes an element)."""
        if (plan, function) not in self.wanted:
            self._constant(plan)
            self.wanted.append((plan, function))

    @staticmethod
    def _head() -> list[str]:
        return ["    sources = reader.sources", "    checks = reader.reading.checks"]

    def _constant(self, value: Any) -> str:
        """The name the functions know ``value`` by."""
        name = self.names.get(id(value))
        if name is None:
            name = self.names[id(value)] = f"_{len(self.names)}"
            self.constants[name] = value
        return name

    def _walk(self, plan: _ReadPlan, element: str, depth: int, out: list[str]) -> None:
        """The children of ``element`` (a variable) that ``plan``'s children take."""
        pad, child = "    " * depth, f"child{depth}"
        if not plan.groups:
            out.append(f"{pad}pass")
            return
        taken = f"taken{depth}"  # the elements each plan with a ``repeat`` took in this one
        if any(one.repeat for group in plan.groups.values() for one in group):
            out.append(f"{pad}{taken} = {{}}")
        out += [f"{pad}for {child} in {element}:", f"{pad}    tag = {child}.tag"]
        for number, (tag, group) in enumerate(plan.groups.items()):
            out.append(f"{pad}    {'el' if number else ''}if tag == {tag!r}:")
            if len(group) == 1 and not group[0].select and not group[0].repeat:
                self._take(group[0], child, depth + 2, out)
            else:
                for plan_of_kind in group:
                    self._want(plan_of_kind, "take")
                chooser = self._constant(_chooser(group))
                out.append(f"{pad}        {chooser}(reader, {child}, obj, prefix, {taken})")

    def _take(self, plan: _ReadPlan, element: str, depth: int, out: list[str]) -> None:
        """What ``plan`` does with ``element`` (a variable)."""
        pad, path = "    " * depth, repr(plan.path)
        if plan.form == _PASS:
            self._walk(plan, element, depth, out)
            return
        if plan.form == _FULL:
            if _fills(plan):
                self._want(plan, "take")
                out.append(f"{pad}take_{self._constant(plan)}(reader, {element}, obj, prefix)")
                return
            if plan.groups:
                self._want(plan, "walk")
            out.append(f"{pad}reader.one({self._constant(plan)}, {element}, obj, prefix)")
            return
        if plan.form == _TOKEN:  # ``Token.read``: the text, its whitespace collapsed, empty as absent
            out += [f"{pad}text = {element}.text", f"{pad}if text is not None:"]
            out.append(f"{pad}    value = text if {TOKEN.common} else ' '.join(text.split())")
            out += [f"{pad}    if value:", *self._keep(path, "value", element, depth + 2)]
            return
        self._field(plan.codec, f"{element}.text", plan.path, element, depth, out)
        for attribute in plan.attributes:  # an amount's
            given, name = self._constant(attribute), repr(attribute.name)
            if attribute.path:
                self._field(attribute.codec, f"{element}.get({name})", attribute.path, element, depth, out)
            if attribute.checked:
                out += [f"{pad}given = {element}.get({name})", f"{pad}if given is not None:"]
                out.append(f"{pad}    checks.append(AttributeCheck(prefix + {path}, {given}, given))")

    def _field(self, codec: Codec, text: str, field: str, element: str, depth: int, out: list[str]) -> None:
        """The field ``field`` of ``obj`` from the text ``text`` (an expression) of ``element``
        (a variable): the codec's common case in place, any other through its ``read``."""
        pad, name, path = "    " * depth, self._constant(codec), repr(field)
        out.append(f"{pad}text = {text}")
        if codec.common is not None and not field.endswith("[]"):
            out += [f"{pad}if text is not None and ({codec.common}):", *self._keep(path, "text", element, depth + 1)]
            out.append(f"{pad}else:")
            depth += 1
            pad += "    "
        if field.endswith("[]"):  # each value added to a list: ``_Reader.set``
            out.append(f"{pad}reader.set({name}, text, obj, {path}, prefix, {element}.sourceline)")
            return
        out += [f"{pad}try:", f"{pad}    value = {name}.read(text)", f"{pad}except BadValue:"]
        out += [f"{pad}    reader.set({name}, text, obj, {path}, prefix, {element}.sourceline)"]
        out += [f"{pad}else:", f"{pad}    if value is not None:", *self._keep(path, "value", element, depth + 2)]

    @staticmethod
    def _keep(path: str, value: str, element: str, depth: int) -> list[str]:
        """Set the field ``path`` (a literal) of ``obj`` to ``value`` (a variable), with the line of ``element``."""
        pad = "    " * depth
        return [f"{pad}sources[prefix + {path}] = {element}.sourceline", f"{pad}obj[{path}] = {value}"]

    def _fill(self, plan: _ReadPlan, out: list[str]) -> None:
        """The body of ``take`` for a rule that only fills a new list item or an object of its
        own with its children (``_Reader.one``, written out)."""
        if plan.list_name:
            out += [f"    items = obj.get({plan.list_name!r})", "    if items is None:"]
            out += [f"        items = obj[{plan.list_name!r}] = []", "    obj = {}", "    items.append(obj)"]
            out.append(f"    prefix = prefix + {plan.list_name + '['!r} + str(len(items) - 1) + ']'")
        else:
            out += [f"    prefix += {plan.target!r}", f"    obj = obj.setdefault({plan.target!r}, {{}})"]
        out += ["    sources[prefix] = element.sourceline", "    prefix += '.'"]
        self._walk(plan, "element", 1, out)


def _fills(plan: _ReadPlan) -> bool:
    """Whether ``plan`` only fills a new list item or an object of its own with its children."""
    return bool(plan.list_name or (plan.target and not plan.target.startswith("/"))) and not (
        plan.path or plan.attributes or plan.keep_text
    )


Choose = Callable[["_Reader", etree._Element, dict[str, Any], str, dict[int, int]], None]
"""What takes an element of a name whose kind decides which rule takes it, or which a rule
takes up to its ``repeat``: ``choose(reader, element, obj, prefix, taken)`` (``taken``: how many
elements each plan took so far in the parent, by ``id``)."""


def _chooser(plans: list[_ReadPlan]) -> Choose:
    """The ``Choose`` for the plans of one element name: past a plan's ``repeat``, an element is ``Surplus``."""
    single = plans[0] if len(plans) == 1 and not plans[0].select else None
    kinds = _Kinds(plans) if single is None else None

    def choose(
        reader: _Reader, element: etree._Element, obj: dict[str, Any], prefix: str, taken: dict[int, int]
    ) -> None:
        chosen = single if kinds is None else kinds.choose(element)
        if chosen is None:
            return
        if chosen.repeat:
            count = taken[id(chosen)] = taken.get(id(chosen), 0) + 1
            if count > chosen.repeat:
                reader.surplus(chosen, element, prefix)
                return
        chosen.take(reader, element, obj, prefix)

    return choose


class _Kinds:
    """The plans of one element name when its kind decides which takes it (``DutyTaxFee`` by its
    ``TypeCode``): the first plan without ``select`` takes any, a plan with one the elements of
    its kind; the first that fits, in the guide's order."""

    __slots__ = ("by_kind", "fallback", "select")

    def __init__(self, plans: list[_ReadPlan]) -> None:
        self.by_kind: dict[str, _ReadPlan] = {}
        self.fallback: _ReadPlan | None = None
        self.select = ""
        for plan in plans:
            if not plan.select:
                self.fallback = plan
                break
            self.select = self.select or plan.select  # the kind is read by the first plan's select
            if plan.kind is not None:
                self.by_kind.setdefault(plan.kind, plan)

    def choose(self, child: etree._Element) -> _ReadPlan | None:
        """The plan that takes ``child``, or None."""
        if not self.by_kind:
            return self.fallback
        first = next(child.iterchildren(self.select), None)
        kind = TOKEN.read(first.text if first is not None else None) or ""
        return self.by_kind.get(kind, self.fallback)


_READ_PLANS = PerObject()


def _compiled(guide: XmlGuide) -> _ReadPlan:
    """The plan of the guide's root, its functions made."""
    root = _ReadPlan(guide.root, guide.namespace)
    _ReadCode(root)
    return root


def read_element(guide: XmlGuide, element: etree._Element, base: str) -> Reading:
    """Walk one element (the guide's root, e.g. a ``Declaration``) against
    ``guide``. ``base`` is the element's XPath in its document: findings are
    placed under it."""
    plan = _READ_PLANS.derive(guide, _compiled)
    reading = Reading(data={}, line=source_line(element))
    plan.walk(_Reader(guide, reading, base), element, reading.data, "")
    return reading


class _Reader:
    """One walk: the guide, what it found (``sources``: its field lines), and the root element's XPath."""

    __slots__ = ("base", "guide", "reading", "sources")

    def __init__(self, guide: XmlGuide, reading: Reading, base: str) -> None:
        self.guide, self.reading, self.base = guide, reading, base
        self.sources = reading.sources

    def surplus(self, plan: _ReadPlan, child: etree._Element, prefix: str) -> None:
        """``child``, one more than ``plan`` takes (``repeat``) in its parent: not read."""
        position = 1 + len(list(child.itersiblings(plan.tag, preceding=True)))
        self.reading.surplus.append(Surplus(plan.rule, prefix.rstrip("."), position, source_line(child)))

    def one(self, plan: _ReadPlan, child: etree._Element, obj: dict[str, Any], prefix: str) -> None:
        """One element the guide takes: the object it fills, its text, its attributes, its children."""
        reading = self.reading
        line = source_line(child)
        if plan.list_name:
            items = obj.setdefault(plan.list_name, [])
            item: dict[str, Any] = {}
            items.append(item)
            path = f"{prefix}{plan.list_name}[{len(items) - 1}]"
            reading.sources[path] = line
            obj, prefix = item, path + "."
        elif plan.target.startswith("/"):
            name = plan.target[1:]
            if name in reading.data:
                self.again(plan, child, name)
                return
            reading.sources[name] = line
            obj, prefix = reading.data.setdefault(name, {}), name + "."
        elif plan.target:
            path = prefix + plan.target
            reading.sources[path] = line
            obj, prefix = obj.setdefault(plan.target, {}), path + "."
        if plan.path:
            if plan.keep_text:
                reading.texts[prefix + plan.path] = TOKEN.read(child.text)
            self.set(plan.codec, child.text, obj, plan.path, prefix, line)
        for attribute in plan.attributes:
            given = child.get(attribute.name)
            if attribute.path:
                self.set(attribute.codec, given, obj, attribute.path, prefix, line)
            if attribute.checked and given is not None:
                reading.checks.append(
                    AttributeCheck(prefix + plan.path if plan.path else prefix.rstrip("."), attribute, given)
                )
        if plan.groups:
            plan.walk(self, child, obj, prefix)

    def again(self, plan: _ReadPlan, child: etree._Element, name: str) -> None:
        """A root object read once more (in a later list item): it must say what the first said."""
        other = Reading(data={}, line=self.reading.line)
        _Reader(self.guide, other, self.base).one(plan, child, other.data, "")
        if other.data.get(name) != self.reading.data[name] or other.findings:
            owner = child.getparent()
            position = 1 if owner is None else 1 + sum(1 for _ in owner.itersiblings(str(owner.tag), preceding=True))
            where = f"{self.base}{self.guide.xpath_of(name).replace('[1]', f'[{position}]', 1)}"
            self.reading.findings.append(
                Finding(
                    "12",
                    f"{self.guide.describe(name)} differs from the one given before: a declaration has one {name}",
                    Location(xpath=where, line=source_line(child)),
                )
            )
            self.reading.failed.add(name)

    def set(
        self, codec: Codec, text: str | None, obj: dict[str, Any], name: str, prefix: str, line: int | None
    ) -> None:
        """Field ``name`` of ``obj`` (domain path ``prefix + name``) from ``text``."""
        reading = self.reading
        try:
            value = codec.read(text)
        except BadValue as problem:
            full = prefix + name
            reading.sources[full] = line
            location = Location(xpath=self.base + self.guide.xpath_of(full), line=line)
            reading.findings.append(Finding(problem.code, f"{self.guide.describe(full)}: {problem}", location))
            reading.failed.add(full)
            return
        if value is None:
            return
        if name.endswith("[]"):
            values = obj.setdefault(name[:-2], [])
            reading.sources[f"{prefix}{name[:-2]}[{len(values)}]"] = line
            values.append(value)
            return
        reading.sources[prefix + name] = line
        obj[name] = value


# -- Writing ------------------------------------------------------------------------------------


class _WritePlan:
    """A rule compiled for the writer (only the children that can write something)."""

    __slots__ = (
        "attributes",
        "children",
        "codec",
        "constant",
        "fallback",
        "fixed",
        "list_name",
        "name",
        "path",
        "target",
    )

    def __init__(self, rule: Element) -> None:
        self.name = rule.name
        self.path = rule.path
        self.codec = rule.codec
        self.constant = rule.constant
        self.fallback = rule.fallback
        self.fixed = rule.constant is not None or rule.fallback is not None  # written with its parent
        self.list_name = rule.target[:-2] if rule.target.endswith("[]") else ""
        self.target = "" if self.list_name else rule.target
        self.attributes = tuple(a for a in rule.attributes if a.path or a.same_as or a.constant is not None)
        self.children = tuple(_WritePlan(child) for child in rule.children if _writes(child))


def _writes(rule: Element) -> bool:
    if rule.path.endswith("[]") or not rule.write:
        return False
    return bool(
        rule.path
        or rule.constant is not None
        or rule.fallback is not None
        or any(_writes(child) for child in rule.children)
    )


_WRITE_PLANS = PerObject()


def write_element(guide: XmlGuide, root: Any) -> etree._Element:
    """The guide's root element for ``root`` (a domain object). The elements
    have no namespace: they are meant to stand where ``guide.namespace`` is
    the default one."""
    plan = _WRITE_PLANS.derive(guide, lambda made: _WritePlan(made.root))
    holder = etree.Element("holder")
    _write(plan, holder, root, (root,))
    return holder[0] if len(holder) else etree.Element(plan.name)


def _write(plan: _WritePlan, parent: etree._Element, obj: Any, owners: tuple[Any, ...]) -> bool:
    """Append ``plan``'s element for ``obj`` to ``parent``; whether it carries
    a value. An element that carries none is taken out again, unless it holds
    a fixed code (then its parent decides)."""
    element = etree.SubElement(parent, plan.name)
    carries = False
    if plan.constant is not None:
        element.text = plan.constant
    elif plan.path:
        text = _written(plan.codec, _attr(obj, plan.path))
        carries = text is not None
        element.text = text if text is not None else plan.fallback
    for attribute in plan.attributes:
        if attribute.constant is not None:
            value: str | None = attribute.constant
        else:
            value = _written(
                attribute.codec,
                _attr(_owner(obj, owners, attribute.same_as), attribute.same_as)
                if attribute.same_as
                else _attr(obj, attribute.path),
            )
        if value is not None:
            element.set(attribute.name, value)
    for child in plan.children:
        if child.list_name:
            objects: Any = getattr(obj, child.list_name)
        elif child.target.startswith("/"):
            objects = (getattr(owners[0], child.target[1:]),)
        elif child.target:
            target = getattr(obj, child.target)
            objects = () if target is None else (target,)
        else:
            objects = (obj,)
        for inner in objects:
            carries = _write(child, element, inner, (*owners, obj) if inner is not obj else owners) or carries
    if not (carries or plan.fixed):
        parent.remove(element)
    return carries


def _owner(obj: Any, owners: tuple[Any, ...], path: str) -> Any:
    """The nearest object, from ``obj`` out to the root, that has the field ``path``
    (an invoice line's amount is in its invoice's currency)."""
    name = path.split(".")[0]
    return next((o for o in (obj, *reversed(owners)) if hasattr(o, name)), owners[0])


def _written(codec: Codec, value: Any) -> str | None:
    """The text of a value; None when there is none (an empty text neither)."""
    if value is None:
        return None
    return codec.write(value) or None


def _attr(obj: Any, path: str) -> Any:
    if "." not in path:
        return getattr(obj, path)
    for name in path.split("."):
        if obj is None:
            return None
        obj = getattr(obj, name)
    return obj


# -- Documentation ------------------------------------------------------------------------------


def guide_markdown(guide: XmlGuide) -> str:
    """The mapping tables of one guide: one for the root element, one for each
    kind of list item (XPaths and fields relative to the item)."""
    sections: list[tuple[str, list[str]]] = [(f"`{guide.root.name}`", [])]
    _rows(guide.root, "", "", "", sections, 0)
    out: list[str] = []
    for title, rows in sections:
        out += [f"### {title}", "", "| XPath | Field | Value | Status | Notes |", "|---|---|---|---|---|", *rows, ""]
    return "\n".join(out)


def _shown(path: str) -> str:
    """A field path as the tables show it: the innermost list position is ``k-1``."""
    head, found, tail = path.rpartition("[]")
    return f"`{head}[k-1]{tail}`" if found else f"`{path}`"


def _rows(
    rule: Element, relative: str, prefix: str, full: str, sections: list[tuple[str, list[str]]], current: int
) -> None:
    """``relative``: ``rule``'s XPath in its section; ``prefix``: the field
    path of its object as the section shows it; ``full``: from the root."""
    rows = sections[current][1]
    for child in rule.children:
        there = f"{relative}/{child.step}".lstrip("/").replace("[#]", "[k]")
        if child.target.endswith("[]"):
            name = child.target[:-2]
            rows.append(f"| `{there}` | {_shown(prefix + name + '[]')} | | {child.status} | {child.note} |")
            sections.append((f"`{child.name}` (`{there}`) → {_shown(full + name + '[]')}", []))
            _rows(child, "", name + "[].", full + name + "[].", sections, len(sections) - 1)
            continue
        inner, inner_full = prefix, full
        if child.target.startswith("/"):
            inner = inner_full = child.target[1:] + "."
        elif child.target:
            inner, inner_full = prefix + child.target + ".", full + child.target + "."
        domain = _shown(inner.rstrip(".")) if child.target else ""
        if child.path:
            domain = _shown(inner + child.path)
        value = child.codec.name if child.path else ""
        if child.constant is not None:
            value = f"`{child.constant}` (fixed)" + (" selects the kind" if rule.select == child.name else "")
        note = child.note
        if not child.write:
            note = (note + "; " if note else "") + "read, not written"
        if child.fallback is not None:
            note = (note + "; " if note else "") + f"written `{child.fallback}` otherwise"
        if domain or value or note or not child.children:
            rows.append(f"| `{there}` | {domain} | {value} | {child.status} | {note} |")
        for attribute in child.attributes:
            if attribute.path:
                domain, value = _shown(inner + attribute.path), attribute.codec.name
            elif attribute.same_as:
                domain, value = "", f"= `{attribute.same_as}`"
            else:
                domain, value = "", f"`{attribute.constant}`"
            rows.append(f"| `{there}/@{attribute.name}` | {domain} | {value} | {child.status} | {attribute.note} |")
        if not child.reads and child.constant is None and child.fallback is None:
            continue  # neither read nor written: its children are not listed
        _rows(child, there, inner, inner_full, sections, current)


__all__ = [
    "DATE_102",
    "DECIMAL",
    "INTEGER",
    "STRIPPED",
    "TEXT",
    "TOKEN",
    "Attribute",
    "AttributeCheck",
    "BadValue",
    "Codec",
    "Date102",
    "Decimals",
    "Element",
    "Flag",
    "Integer",
    "Reading",
    "Stripped",
    "Surplus",
    "Text",
    "Token",
    "XmlGuide",
    "guide_markdown",
    "read_element",
    "source_line",
    "walk",
    "write_element",
]
