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

Only lxml's public API is used (iteration, ``tag``, ``text``, ``get``,
``sourceline``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from lxml import etree

from diagnostics import Finding, Location
from diagnostics.field_paths import parent_path

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

    def read(self, text: str | None) -> Any:
        return text

    def write(self, value: Any) -> str | None:
        return str(value.value if isinstance(value, Enum) else value)


class Text(Codec):
    """xs:string content as it stands (the domain strips and checks it);
    ``blank_absent``: a blank text leaves the field unset."""

    def __init__(self, blank_absent: bool = False) -> None:
        self.blank_absent = blank_absent

    def read(self, text: str | None) -> Any:
        if self.blank_absent and not (text and text.strip()):
            return None
        return text


class Token(Codec):
    """xs:token content: whitespace collapsed, empty as absent."""

    name = "token"

    def read(self, text: str | None) -> Any:
        if text is None:
            return None
        return " ".join(text.split()) or None


class Decimals(Codec):
    """An xs:decimal, left as text: pydantic reads it into the field's type and
    reports what does not fit."""

    name = "decimal"

    def write(self, value: Any) -> str | None:
        return format(value, "f")


class Date102(Codec):
    """A date as ``CCYYMMDD`` (UN/EDIFACT 2379 format 102), a real calendar date."""

    name = "date CCYYMMDD"

    def read(self, text: str | None) -> Any:
        value = (text or "").strip()
        try:
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
        if value is None or not value.isdigit():
            return None
        try:
            return int(value)
        except ValueError:  # a digit int() does not take (superscripts)
            return None

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


TEXT, TOKEN, DECIMAL, DATE_102, INTEGER = Text(), Token(), Decimals(), Date102(), Integer()


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
    fills (``""``: none). ``target``: ``"name"`` fills the object ``name``,
    ``"name[]"`` a new item of the list ``name`` (``label``: how messages call
    one item, ``line``). ``select``: the child whose ``constant`` tells this
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
            return f"{self.name}[{self.select}='{self.kind}']"
        if self.target.endswith("[]"):
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
        found = _FIELDS.get(id(self))
        if found is None:
            found = _FIELDS[id(self)] = {}
            _bind(self.root, "", "", self.root.name, "", found)
        return found

    def item_labels(self) -> dict[str, str]:
        """List name → how messages call one item (``lines`` → ``line``)."""
        return {rule.target[:-2]: rule.label for _, rule in walk(self.root) if rule.target.endswith("[]") and rule.label}

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
                return xpath
            path = parent_path(path)
        return ""

    def describe(self, path: str) -> str:
        """How a message names a domain path: ``lines[2].hs_code`` → ``line 3
        hs_code (Commodity/Classification/ID)``; ``version`` → ``version
        (Declaration/VersionID)``; a path the guide does not place, bare."""
        binding = self.fields().get(_generic(path))
        label = path
        match = re.match(r"^(\w+)\[(\d+)\]\.(.+)$", path)
        if match:
            item = self.item_labels().get(match.group(1))
            if item:
                label = f"{item} {int(match.group(2)) + 1} {match.group(3)}"
        where = binding.where if binding is not None else None
        return f"{label} ({where})" if where else label


_FIELDS: dict[int, dict[str, _Binding]] = {}  # per guide (guides live as long as the process)


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
        elif child.target:
            found[prefix + child.target] = _Binding(here, anchor + there)
            inner = prefix + child.target + "."
        if child.path:
            found[inner + child.path] = _Binding(here, inner_anchor + inner_relative)
        for attribute in child.attributes:
            if attribute.path:
                found[inner + attribute.path] = _Binding(f"{here}/@{attribute.name}", f"{inner_anchor}{inner_relative}/@{attribute.name}")
        _bind(child, inner, here, inner_anchor, inner_relative, found)


def _generic(path: str) -> str:
    """``lines[2].hs_code`` → ``lines[].hs_code``."""
    return re.sub(r"\[\d+\]", "[]", path)


# -- Reading ------------------------------------------------------------------------------------


def source_line(element: etree._Element) -> int | None:
    """The element's line in its document (lxml-stubs leave ``sourceline`` untyped)."""
    line: object = element.sourceline
    return line if isinstance(line, int) else None


@dataclass(frozen=True)
class Surplus:
    """An element a rule had no room for (``repeat``): not read. ``owner`` is
    the domain path of the object it would have filled (``lines[0]``, ``""``
    for the root); ``position``: its place among its siblings of its name."""

    rule: Element
    owner: str
    position: int
    line: int | None


@dataclass(frozen=True)
class AttributeCheck:
    """An attribute the guide checks (``Attribute.constant`` or ``same_as``),
    as found on the element of the field ``path``."""

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


_Table = dict[str, list[Element]]
_TABLES: dict[int, _Table] = {}


def _table(guide: XmlGuide, rule: Element) -> _Table:
    """Clark name → the rules of ``rule``'s children that read something."""
    table = _TABLES.get(id(rule))
    if table is None:
        table = _TABLES[id(rule)] = {}
        for child in rule.children:
            if child.reads:
                table.setdefault(f"{{{guide.namespace}}}{child.name}", []).append(child)
    return table


def read_element(guide: XmlGuide, element: etree._Element, base: str) -> Reading:
    """Walk one element (the guide's root, e.g. a ``Declaration``) against
    ``guide``. ``base`` is the element's XPath in its document: findings are
    placed under it."""
    reading = Reading(data={}, line=source_line(element))
    _read_children(guide, guide.root, element, reading.data, "", reading, base)
    return reading


def _read_children(
    guide: XmlGuide, rule: Element, element: etree._Element, obj: dict[str, Any], prefix: str, reading: Reading, base: str
) -> None:
    table = _table(guide, rule)
    taken: dict[int, int] = {}  # id(rule) -> elements it took
    seen: dict[str, int] = {}  # tag -> elements of that name so far
    for child in element:
        tag = child.tag
        if not isinstance(tag, str):  # comments, processing instructions
            continue
        rules = table.get(tag)
        if rules is None:
            continue
        seen[tag] = position = seen.get(tag, 0) + 1
        chosen = _choose(guide, rules, child)
        if chosen is None:
            continue
        count = taken[id(chosen)] = taken.get(id(chosen), 0) + 1
        if chosen.repeat and count > chosen.repeat:
            reading.surplus.append(Surplus(chosen, prefix.rstrip("."), position, source_line(child)))
            continue
        _read_one(guide, chosen, child, obj, prefix, reading, base)


def _choose(guide: XmlGuide, rules: list[Element], child: etree._Element) -> Element | None:
    """The rule that takes ``child``: the only one, or the kind its select child names."""
    if len(rules) == 1 and not rules[0].select:
        return rules[0]
    kind: str | None = None
    for rule in rules:
        if not rule.select:
            return rule
        if kind is None:
            first = next(child.iterchildren(f"{{{guide.namespace}}}{rule.select}"), None)
            kind = TOKEN.read(first.text if first is not None else None) or ""
        if kind == rule.kind:
            return rule
    return None


def _read_one(
    guide: XmlGuide, rule: Element, child: etree._Element, obj: dict[str, Any], prefix: str, reading: Reading, base: str
) -> None:
    line = source_line(child)
    target = rule.target
    if target:
        if target.endswith("[]"):
            items = obj.setdefault(target[:-2], [])
            item: dict[str, Any] = {}
            items.append(item)
            path = f"{prefix}{target[:-2]}[{len(items) - 1}]"
            obj = item
        else:
            path = prefix + target
            obj = obj.setdefault(target, {})
        reading.sources[path] = line
        prefix = path + "."
    if rule.path:
        full = prefix + rule.path
        if rule.keep_text:
            reading.texts[full] = TOKEN.read(child.text)
        _set(guide, reading, rule.codec, child.text, obj, rule.path, full, line, base)
    for attribute in rule.attributes:
        given = child.get(attribute.name)
        if attribute.path:
            _set(guide, reading, attribute.codec, given, obj, attribute.path, prefix + attribute.path, line, base)
        if attribute.checked and given is not None:
            reading.checks.append(AttributeCheck(prefix + rule.path if rule.path else prefix.rstrip("."), attribute, given))
    if rule.children:
        _read_children(guide, rule, child, obj, prefix, reading, base)


def _set(
    guide: XmlGuide, reading: Reading, codec: Codec, text: str | None, obj: dict[str, Any], name: str, full: str, line: int | None, base: str
) -> None:
    try:
        value = codec.read(text)
    except BadValue as problem:
        reading.sources[full] = line
        location = Location(xpath=base + guide.xpath_of(full), line=line)
        reading.findings.append(Finding(problem.code, f"{guide.describe(full)}: {problem}", location))
        reading.failed.add(full)
        return
    if value is None:
        return
    reading.sources[full] = line
    obj[name] = value


# -- Writing ------------------------------------------------------------------------------------


def write_element(guide: XmlGuide, root: Any) -> etree._Element:
    """The guide's root element for ``root`` (a domain object). The elements
    have no namespace: they are meant to stand where ``guide.namespace`` is
    the default one."""
    element, _ = _write(guide.root, root, root)
    return element


def _write(rule: Element, obj: Any, root: Any) -> tuple[etree._Element, bool]:
    """``rule``'s element for ``obj``, and whether it carries a value (an
    element that carries none, fixed codes aside, is not written)."""
    element = etree.Element(rule.name)
    carries = False
    if rule.constant is not None:
        element.text = rule.constant
    elif rule.path:
        text = _written(rule.codec, _attr(obj, rule.path))
        carries = text is not None
        element.text = text if text is not None else rule.fallback
    for attribute in rule.attributes:
        if attribute.constant is not None:
            value: str | None = attribute.constant
        else:
            value = _written(attribute.codec, _attr(root, attribute.same_as) if attribute.same_as else _attr(obj, attribute.path))
        if value is not None:
            element.set(attribute.name, value)
    for child in rule.children:
        if child.target.endswith("[]"):
            objects: list[Any] = list(getattr(obj, child.target[:-2]))
        elif child.target:
            target = getattr(obj, child.target)
            objects = [] if target is None else [target]
        else:
            objects = [obj]
        for inner in objects:
            written, inner_carries = _write(child, inner, root)
            if inner_carries or child.constant is not None or child.fallback is not None:
                element.append(written)  # a fixed code goes with its parent, which is written if it carries
            carries = carries or inner_carries
    return element, carries


def _written(codec: Codec, value: Any) -> str | None:
    """The text of a value; None when there is none (an empty text neither)."""
    if value is None:
        return None
    return codec.write(value) or None


def _attr(obj: Any, path: str) -> Any:
    for name in path.split("."):
        if obj is None:
            return None
        obj = getattr(obj, name)
    return obj


# -- Documentation ------------------------------------------------------------------------------


def guide_markdown(guide: XmlGuide) -> str:
    """The mapping table of one guide: one for the root element, one for each
    list item (XPaths relative to it)."""
    sections: list[tuple[str, list[str]]] = [(f"`{guide.root.name}`", [])]
    _rows(guide.root, "", "", sections, 0)
    out: list[str] = []
    for title, rows in sections:
        out += [f"### {title}", "", "| XPath | Domain field | Value | Status | Notes |", "|---|---|---|---|---|", *rows, ""]
    return "\n".join(out)


def _rows(rule: Element, relative: str, prefix: str, sections: list[tuple[str, list[str]]], current: int) -> None:
    rows = sections[current][1]
    for child in rule.children:
        there = f"{relative}/{child.step}".lstrip("/")
        if child.target.endswith("[]"):
            name = prefix + child.target[:-2]
            rows.append(f"| `{there.replace('[#]', '[k]')}` | `{name}[k-1]` | | {child.status} | {child.note} |")
            sections.append((f"`{child.name}` (`{there.replace('[#]', '[k]')}`) → `{name}[k-1]`", []))
            _rows(child, "", name + "[].", sections, len(sections) - 1)
            continue
        inner = prefix + child.target + "." if child.target else prefix
        domain = ""
        if child.target:
            domain = f"`{(prefix + child.target).replace('[]', '[k-1]')}`"
        if child.path:
            domain = f"`{(inner + child.path).replace('[]', '[k-1]')}`"
        value = child.codec.name if child.path else ""
        if child.constant is not None:
            value = f"`{child.constant}` (fixed)" + (" selects the kind" if rule.select == child.name else "")
        note = child.note
        if child.fallback is not None:
            note = (note + "; " if note else "") + f"written `{child.fallback}` otherwise"
        if domain or value or note or not child.children:
            rows.append(f"| `{there}` | {domain} | {value} | {child.status} | {note} |")
        if not child.reads and child.constant is None and child.fallback is None:
            continue  # neither read nor written: its children are not listed
        for attribute in child.attributes:
            if attribute.path:
                domain, value = f"`{(inner + attribute.path).replace('[]', '[k-1]')}`", attribute.codec.name
            elif attribute.same_as:
                domain, value = "", f"= `{attribute.same_as}`"
            else:
                domain, value = "", f"`{attribute.constant}`"
            rows.append(f"| `{there}/@{attribute.name}` | {domain} | {value} | {child.status} | {attribute.note} |")
        _rows(child, there, inner, sections, current)


__all__ = [
    "DATE_102",
    "DECIMAL",
    "INTEGER",
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
