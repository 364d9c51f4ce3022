"""CUSDEC D.96B (guide CAD01, docs/formats/cusdec-cad.md) → ``Declaration``.

The full mapper walks one message once. Every field it sets remembers the
segment, element and component it came from, so that any later error about the
field — ours, pydantic's or the portal's pointer — can be reported at its
EDIFACT position.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from diagnostics import Finding, Location
from diagnostics.field_paths import nearest_source, pydantic_complaints
from domain import Declaration
from mappings.edifact_values import ValueProblem, parse_date_102, parse_decimal, plain_decimal
from parsers.edifact.model import Message, Segment

GUIDE = ("CUSDEC", "D", "96B")

# Where each domain field lives in the guide: used in messages about a field.
FIELD_GUIDE: dict[str, str] = {
    "transaction_number": "BGM 1004 (first 14 digits)",
    "version": "BGM 1004 (last 5 digits)",
    "function": "BGM 1225",
    "type_code": "CST C246 7361 (header)",
    "office_of_release": "LOC+22 C517 3225",
    "release_date": "DTM+271 C507 2380",
    "amendment": "FTX+CHG",
    "amendment.reason_code": "FTX+CHG C108 4440",
    "amendment.kind": "FTX+CHG C107 4441",
    "filer_reference": "RFF+ABE C506 1154",
    "cargo_control_number": "RFF+CN C506 1154",
    "invoice": "DOC+380",
    "invoice.number": "DOC+380 C503 1004",
    "invoice.issue_date": "DTM+3 C507 2380",
    "invoice.total_amount": "MOA+39 C516 5004",
    "importer": "NAD+IM",
    "importer.account": "NAD+IM C082 3039",
    "importer.name": "NAD+IM C080 3036",
    "declarant": "NAD+DT",
    "declarant.account": "NAD+DT C082 3039",
    "declarant.name": "NAD+DT C080 3036",
    "vendor": "NAD+SE",
    "vendor.name": "NAD+SE C080 3036",
    "vendor.country": "NAD+SE 3207",
    "currency": "MOA+39 C516 6345 / CUX C504 6345",
    "exchange_rate": "CUX 5402",
    "lines": "CST segment group (UNS+D … UNS+S)",
    "line_number": "CST 1496",
    "hs_code": "CST C246 #1 7361",
    "tariff_treatment": "CST C246 #2 7361",
    "description": "FTX+AAA C108 4440",
    "country_of_origin": "LOC+27 C517 3225",
    "quantity": "MEA+AAE C174 6314",
    "unit": "MEA+AAE C174 6411",
    "invoice_amount": "MOA+38 C516 5004",
    "value_for_duty": "MOA+40 C516 5004",
    "duty_rate": "TAX+7+CUD C243 5278",
    "customs_duty": "MOA+124 after TAX CUD",
    "excise_tax": "MOA+124 after TAX EXC",
    "gst": "MOA+124 after TAX GST",
    "value_for_tax": "MOA+125 after TAX GST",
}

PLAIN_AMOUNTS = {"38": "invoice_amount", "40": "value_for_duty"}
"""MOA qualifier → line field, before any TAX of the line (or after a TAX without type)."""
TAX_AMOUNTS: dict[str, dict[str, str]] = {
    "CUD": {"124": "customs_duty"},
    "EXC": {"124": "excise_tax"},
    "GST": {"124": "gst", "125": "value_for_tax"},
}
"""MOA qualifier → line field after a TAX of each type (none after other types)."""
NO_AMOUNTS: dict[str, str] = {}


# The guide's segment order per section. A missing field is reported, as ISO 9735
# UCS 0096 asks, at the last segment processed before the place its segment was due.
HEADER_ORDER = {tag: rank for rank, tag in enumerate(("UNH", "BGM", "CST", "LOC", "DTM", "FTX", "RFF", "DOC", "NAD", "MOA", "CUX"))}
LINE_ORDER = {tag: rank for rank, tag in enumerate(("CST", "FTX", "LOC", "MEA", "MOA", "TAX"))}


def field_tag(name: str) -> str:
    """The tag of the segment that carries a field: ``release_date`` → ``DTM``."""
    return FIELD_GUIDE.get(name, "UNH").split()[0].split("+")[0]


def describe_field(path: str) -> str:
    """``lines[2].hs_code`` → ``line 3 hs_code (CST C246 #1 7361)``."""
    match = re.match(r"^lines\[(\d+)\]\.(.+)$", path)
    if match:
        name = match.group(2)
        guide = FIELD_GUIDE.get(name)
        label = f"line {int(match.group(1)) + 1} {name}"
    else:
        guide = FIELD_GUIDE.get(path)
        label = path
    return f"{label} ({guide})" if guide else label


Source = tuple[int, str, int | None, int | None]
"""Where a field was read: segment position in the message (UNH = 1), tag,
element and component. Kept as a tuple: a Location is built only for errors."""


def source_location(message_ref: str, source: Source | None) -> Location:
    """The Location of a source; the message header when unknown."""
    if source is None:
        return Location(message_ref=message_ref, segment=1, tag="UNH")
    segment, tag, element, component = source
    return Location(message_ref=message_ref, segment=segment, tag=tag, element=element, component=component)


class MappingResult:
    """The declaration (None when it could not be built), the findings, and
    where each domain field came from (domain path → ``Source``)."""

    __slots__ = ("declaration", "findings", "message_ref", "sources")

    def __init__(
        self, declaration: Declaration | None, findings: list[Finding], sources: dict[str, Source], message_ref: str
    ) -> None:
        self.declaration = declaration
        self.findings = findings
        self.sources = sources
        self.message_ref = message_ref

    def locate(self, path: str | None) -> Location:
        """The EDIFACT location of a domain path, or of its nearest parent."""
        return source_location(self.message_ref, nearest_source(self.sources, path))


class _Builder:
    """Collects field values with their locations while walking segments."""

    def __init__(self, message: Message, decimal_mark: str) -> None:
        self.message = message
        self.decimal_mark = decimal_mark
        self.usual_mark = decimal_mark in (".", ",")  # see edifact_values.plain_decimal
        self.data: dict[str, Any] = {"lines": []}
        self.sources: dict[str, Source] = {}
        self.findings: list[Finding] = []
        self.failed: set[str] = set()
        self.index = 0  # position of the current segment in the message, UNH = 1

    def loc(self, segment: Segment, element: int | None = None, component: int | None = None) -> Location:
        return source_location(self.message.reference, (self.index, segment.tag, element, component))

    def problem(self, code: str, message: str, location: Location, path: str | None = None) -> None:
        self.findings.append(Finding(code, message, location))
        if path:
            self.failed.add(path)

    def put(
        self,
        path: str,
        segment: Segment,
        element: int,
        component: int = 1,
        convert: Callable[[str], Any] | None = None,
        *,
        target: dict[str, Any] | None = None,
        prefix: str = "",
    ) -> None:
        """Set ``path`` from a segment position; empty values are left unset."""
        full = prefix + path
        self.sources[full] = (self.index, segment.tag, element, component)
        try:
            raw = segment.elements[element - 1][component - 1]
        except IndexError:
            return
        if raw == "":
            return
        value: Any = raw
        if convert is not None:
            try:
                value = convert(raw)
            except ValueProblem as problem:
                location = self.loc(segment, element, component)
                self.problem(problem.code, f"{describe_field(full)}: {problem}", location, full)
                return
        if target is not None and "." not in path:
            target[path] = value
            return
        data = target if target is not None else self.data
        parents = _PARENTS.get(path)
        if parents is None:
            _assign(data, path, value)
        elif parents:
            data = data.setdefault(parents, {})
            data[path[len(parents) + 1 :]] = value
        else:
            data[path] = value

    def decimal(self, text: str) -> Any:
        return parse_decimal(text, self.decimal_mark)


_PARENTS: dict[str, str] = {
    path: path.split(".")[0] if "." in path else "" for path in FIELD_GUIDE if path.count(".") <= 1
}
_PARENTS.update({f"{role}.{name}": role for role in ("importer", "declarant") for name in ("account", "name")})
_PARENTS.update({f"vendor.{name}": "vendor" for name in ("name", "street", "city", "postcode", "country")})
"""Header paths with at most one parent: path -> its parent ("" for none), for ``_Builder.put``."""


def _assign(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for name in parents:
        data = data.setdefault(name, {})
    data[last] = value


def _joined_text(segment: Segment, element: int) -> str:
    parts = segment.elements[element - 1] if len(segment.elements) >= element else []
    return " ".join(part for part in parts if part)


_HEADER, _LINES, _SUMMARY = 0, 1, 2
_NOTHING: list[str] = []  # an absent element: no components


def map_cusdec(message: Message, decimal_mark: str = ".") -> MappingResult:
    """Map one CUSDEC message of guide CAD01 to a Declaration: the full walk,
    which records the sources as it goes and produces the findings."""
    builder = _walk(message, decimal_mark)
    declaration = _validate(builder)
    return MappingResult(declaration, builder.findings, builder.sources, message.reference)


def _walk(message: Message, decimal_mark: str) -> _Builder:
    """The full walk: the data for ``Declaration.model_validate``, the sources
    of its fields, and the findings of the guide's own checks."""
    builder = _Builder(message, decimal_mark)
    data = builder.data
    sources = builder.sources
    lines = data["lines"]
    section = _HEADER
    line: dict[str, Any] | None = None
    keys: dict[str, str] = {}  # the domain paths of the current line's fields
    tax_type = ""
    after = ""  # the segment that qualifies a following DTM/CUX: "DOC" or "MOA39"
    count_seen: tuple[int, Segment] | None = None
    uns_positions: dict[str, int] = {}
    line_handlers = _LINE_HANDLERS
    amounts = PLAIN_AMOUNTS  # MOA qualifier -> line field, for the current TAX type
    usual_mark = builder.usual_mark

    for index, segment in enumerate(message.segments, start=1):
        tag = segment.tag
        if tag == "UNH" or tag == "UNT":
            continue
        elements = segment.elements
        first = elements[0] if elements else _NOTHING
        qualifier = first[0] if first else ""  # segment.get(1)
        if section == _LINES and line is not None and tag != "CST" and tag != "UNS":
            # The bulk of a message: the segments of a CST group.
            if tag == "MOA":
                name = amounts.get(qualifier)
                if name is not None:
                    # _put_amount(builder, line, keys, name, index, segment, first, 1, 2), inlined
                    full = keys[name]
                    sources[full] = (index, tag, 1, 2)
                    raw = first[1] if len(first) >= 2 else ""
                    if raw != "":
                        if usual_mark and plain_decimal(raw):
                            line[name] = Decimal(raw)
                        else:
                            _put_amount(builder, line, keys, name, index, segment, first, 1, 2)
                    if name == "value_for_duty":
                        currency = first[2] if len(first) >= 3 else ""  # segment.get(1, 3)
                        if currency and currency != "CAD":
                            builder.index = index
                            builder.problem(
                                "12",
                                f"value for duty must be in CAD, not {currency!r}",
                                builder.loc(segment, 1, 3),
                                keys["value_for_duty"],
                            )
            elif tag == "TAX":
                second = elements[1] if len(elements) >= 2 else _NOTHING
                tax_type = second[0] if second else ""  # segment.get(2, 1)
                amounts = TAX_AMOUNTS.get(tax_type, NO_AMOUNTS) if tax_type else PLAIN_AMOUNTS
                if tax_type == "CUD":
                    rate = elements[4] if len(elements) >= 5 else _NOTHING
                    _put_amount(builder, line, keys, "duty_rate", index, segment, rate, 5, 4)
            else:
                handler = line_handlers.get(tag)
                if handler is not None:
                    handler(builder, segment, index, qualifier, line, keys)
            continue
        builder.index = index
        if tag == "UNS":
            section = _LINES if qualifier == "D" else _SUMMARY
            uns_positions[qualifier] = index
        elif section == _LINES:
            if tag == "CST":
                line = {}
                lines.append(line)
                keys = _line_keys(len(lines) - 1)
                sources[keys[""]] = (index, tag, None, None)
                _put_line(builder, line, keys, "line_number", index, segment, 1, 1, _line_number)
                _put_line(builder, line, keys, "hs_code", index, segment, 2, 1)
                _put_line(builder, line, keys, "tariff_treatment", index, segment, 3, 1)
                tax_type = ""
                amounts = PLAIN_AMOUNTS
            else:  # no line yet
                builder.problem(
                    "14", f"{tag} before the first CST of the detail section", builder.loc(segment)
                )
        elif section == _HEADER:
            after = _map_header_segment(builder, segment, tag, qualifier, after)
        elif tag == "CNT" and qualifier == "5":
            count_seen = (index, segment)

    if "D" not in uns_positions:
        builder.problem("13", "UNS+D (start of the detail section) is missing", _at_end(builder))
    if "S" not in uns_positions:
        builder.problem("13", "UNS+S (start of the summary section) is missing", _at_end(builder))
    if count_seen is not None:
        _check_line_count(builder, *count_seen)
    return builder


# The detail section: one handler per tag, and the paths of each line's fields --

_LINE_FIELDS = (
    "line_number", "hs_code", "tariff_treatment", "description", "country_of_origin", "quantity", "unit",
    "invoice_amount", "value_for_duty", "duty_rate", "customs_duty", "excise_tax", "gst", "value_for_tax",
)
_LINE_KEYS: list[dict[str, str]] = []  # per line index: field name -> "lines[i].name" ("" -> "lines[i]")
_LINE_KEYS_CACHED = 10_000  # the domain model allows 9 999 lines


def _line_keys(number: int) -> dict[str, str]:
    """The domain paths of line ``number``'s fields (built once per line index)."""
    if number < len(_LINE_KEYS):
        return _LINE_KEYS[number]
    keys = {name: f"lines[{number}].{name}" for name in _LINE_FIELDS}
    keys[""] = f"lines[{number}]"
    if number == len(_LINE_KEYS) and number < _LINE_KEYS_CACHED:
        _LINE_KEYS.append(keys)
    return keys


def _put_line(
    builder: _Builder,
    line: dict[str, Any],
    keys: dict[str, str],
    name: str,
    index: int,
    segment: Segment,
    element: int,
    component: int,
    convert: Callable[[str], Any] | None = None,
) -> None:
    """``_Builder.put`` for a field of a line: record its source, set it when not empty."""
    full = keys[name]
    builder.sources[full] = (index, segment.tag, element, component)
    elements = segment.elements
    values = elements[element - 1] if len(elements) >= element else _NOTHING
    raw = values[component - 1] if len(values) >= component else ""
    if raw == "":
        return
    if convert is None:
        line[name] = raw
        return
    try:
        line[name] = convert(raw)
    except ValueProblem as problem:
        location = source_location(builder.message.reference, (index, segment.tag, element, component))
        builder.problem(problem.code, f"{describe_field(full)}: {problem}", location, full)


def _put_amount(
    builder: _Builder,
    line: dict[str, Any],
    keys: dict[str, str],
    name: str,
    index: int,
    segment: Segment,
    values: list[str],
    element: int,
    component: int,
) -> None:
    """``_put_line`` of a decimal from ``values`` (the element's components)."""
    full = keys[name]
    builder.sources[full] = (index, segment.tag, element, component)
    raw = values[component - 1] if len(values) >= component else ""
    if raw == "":
        return
    if builder.usual_mark and plain_decimal(raw):  # what parse_decimal returns for these
        line[name] = Decimal(raw)
        return
    try:
        line[name] = parse_decimal(raw, builder.decimal_mark)
    except ValueProblem as problem:
        location = source_location(builder.message.reference, (index, segment.tag, element, component))
        builder.problem(problem.code, f"{describe_field(full)}: {problem}", location, full)


_LineHandler = Callable[[_Builder, Segment, int, str, dict[str, Any], dict[str, str]], None]


def _line_ftx(
    builder: _Builder, segment: Segment, index: int, qualifier: str, line: dict[str, Any], keys: dict[str, str]
) -> None:
    if qualifier == "AAA":
        builder.sources[keys["description"]] = (index, segment.tag, 4, None)
        elements = segment.elements
        text = " ".join(filter(None, elements[3])) if len(elements) >= 4 else ""  # _joined_text(segment, 4)
        if text:
            line["description"] = text


def _line_loc(
    builder: _Builder, segment: Segment, index: int, qualifier: str, line: dict[str, Any], keys: dict[str, str]
) -> None:
    if qualifier == "27":
        _put_line(builder, line, keys, "country_of_origin", index, segment, 2, 1)


def _line_mea(
    builder: _Builder, segment: Segment, index: int, qualifier: str, line: dict[str, Any], keys: dict[str, str]
) -> None:
    if qualifier == "AAE":
        _put_line(builder, line, keys, "unit", index, segment, 3, 1)
        elements = segment.elements
        _put_amount(builder, line, keys, "quantity", index, segment, elements[2] if len(elements) >= 3 else _NOTHING, 3, 2)


_LINE_HANDLERS: dict[str, _LineHandler] = {"FTX": _line_ftx, "LOC": _line_loc, "MEA": _line_mea}
"""Segments of a CST group with line fields, besides MOA and TAX (handled in ``_walk``)."""


def _line_number(text: str) -> int:
    if not text.isdigit():
        raise ValueProblem("37" if any(c.isalpha() for c in text) else "12", f"{text!r} is not a line number")
    return int(text)


def _at_end(builder: _Builder) -> Location:
    trailer = builder.message.trailer
    position = len(builder.message.segments)
    return Location(message_ref=builder.message.reference, segment=position, tag=trailer.tag if trailer else None)


def _map_header_segment(builder: _Builder, segment: Segment, tag: str, qualifier: str, after: str) -> str:
    """Map one header segment; returns the context for a following DTM/CUX."""
    if tag == "BGM":
        _map_bgm(builder, segment)
    elif tag == "CST":
        builder.put("type_code", segment, 2)
    elif tag == "LOC" and qualifier == "22":
        builder.put("office_of_release", segment, 2)
    elif tag == "DTM":
        code = segment.get(1, 1)
        if code == "271":
            builder.put("release_date", segment, 1, 2, _date(builder, segment))
        elif code == "3" and after == "DOC":
            builder.put("invoice.issue_date", segment, 1, 2, _date(builder, segment))
        return after
    elif tag == "FTX" and qualifier == "CHG":
        builder.put("amendment.reason_code", segment, 4, 1)
        explanation = " ".join(part for part in segment.elements[3][1:] if part) if len(segment.elements) >= 4 else ""
        if explanation:
            builder.data.setdefault("amendment", {})["explanation"] = explanation
        builder.sources["amendment.kind"] = (builder.index, tag, 3, 1)
        if segment.get(3, 1) == "ADJ":  # C107 4441: the filer declares an adjustment
            builder.data.setdefault("amendment", {})["kind"] = "adjustment"
    elif tag == "RFF":
        code = segment.get(1, 1)
        if code == "ABE":
            builder.put("filer_reference", segment, 1, 2)
        elif code == "CN":
            builder.put("cargo_control_number", segment, 1, 2)
    elif tag == "DOC" and qualifier == "380":
        builder.put("invoice.number", segment, 2)
        return "DOC"
    elif tag == "NAD":
        _map_nad(builder, segment, qualifier)
    elif tag == "MOA" and segment.get(1, 1) == "39":
        builder.put("invoice.total_amount", segment, 1, 2, builder.decimal)
        builder.put("currency", segment, 1, 3)
        return "MOA39"
    elif tag == "CUX" and after == "MOA39":
        _map_cux(builder, segment)
    return ""


def _date(builder: _Builder, segment: Segment) -> Callable[[str], Any]:
    """Parse C507 2380 as format 102, refusing any other 2379 format code."""
    fmt = segment.get(1, 3)

    def convert(text: str) -> Any:
        if fmt and fmt != "102":
            raise ValueProblem("12", f"date format {fmt!r} is not supported; use 102 (CCYYMMDD)")
        return parse_date_102(text)

    return convert


def _map_bgm(builder: _Builder, segment: Segment) -> None:
    if segment.get(1, 1) != "929":
        builder.problem(
            "12",
            f"BGM C002 1001 is {segment.get(1, 1)!r}; this guide expects 929 (goods declaration)",
            builder.loc(segment, 1, 1),
        )
    reference = segment.get(2)
    builder.sources["transaction_number"] = builder.sources["version"] = (builder.index, segment.tag, 2, None)
    if reference:
        if len(reference) != 19 or not reference.isdigit():
            builder.problem(
                "12",
                f"BGM 1004 {reference!r} must be 19 digits: the 14-digit transaction number "
                "and the 5-digit version",
                builder.loc(segment, 2),
                "transaction_number",
            )
            builder.failed.add("version")
        else:
            builder.data["transaction_number"] = reference[:14]
            builder.data["version"] = int(reference[14:])
    builder.put("function", segment, 3)


def _map_nad(builder: _Builder, segment: Segment, qualifier: str) -> None:
    role = {"IM": "importer", "DT": "declarant", "SE": "vendor"}.get(qualifier)
    if role is None:
        return
    builder.sources[role] = (builder.index, segment.tag, None, None)
    builder.data.setdefault(role, {})
    if role == "vendor":
        builder.put("vendor.name", segment, 4)
        builder.put("vendor.street", segment, 5)
        builder.put("vendor.city", segment, 6)
        builder.put("vendor.postcode", segment, 8)
        builder.put("vendor.country", segment, 9)
    else:
        builder.put(f"{role}.account", segment, 2)
        builder.put(f"{role}.name", segment, 4)


def _map_cux(builder: _Builder, segment: Segment) -> None:
    currency = segment.get(1, 2)
    declared = builder.data.get("currency")
    if declared and currency and currency != declared:
        builder.problem(
            "12",
            f"CUX currency {currency!r} differs from the invoice currency {declared!r} in MOA+39",
            builder.loc(segment, 1, 2),
            "currency",
        )
    builder.put("exchange_rate", segment, 3, 1, builder.decimal)


def _check_line_count(builder: _Builder, index: int, segment: Segment) -> None:
    declared = segment.get(1, 2)
    actual = len(builder.data["lines"])
    location = Location(message_ref=builder.message.reference, segment=index, tag="CNT", element=1, component=2)
    if not declared.isdigit():
        builder.problem("12", f"CNT+5 line count {declared!r} is not a number", location)
    elif int(declared) != actual:
        builder.problem("29", f"CNT+5 says {int(declared)} lines, the message has {actual}", location)


def _validate(builder: _Builder) -> Declaration | None:
    """Build the Declaration; turn pydantic's complaints into located findings."""
    try:
        return Declaration.model_validate(builder.data)
    except ValidationError as error:
        ref = builder.message.reference
        for path, missing, detail in pydantic_complaints(error, builder.failed):
            location = _missing_location(builder, path) if missing else source_location(ref, nearest_source(builder.sources, path))
            builder.findings.append(Finding("13" if missing else "12", f"{describe_field(path)} {detail}", location))
        return None


def _missing_location(builder: _Builder, path: str) -> Location:
    """Where a missing field is reported: where its element stands when the
    segment is there with the element empty; otherwise, as ISO 9735 UCS 0096
    asks for a missing segment, at the last segment processed before the
    place the field's segment was due (in the header, or in the field's line)."""
    ref = builder.message.reference
    if path in builder.sources:
        return source_location(ref, builder.sources[path])
    header, lines = _layout(builder.message)
    if path.startswith("lines["):
        index = int(path[6 : path.index("]")])
        name = path[path.index("]") + 2 :].split(".")[0]
        segments, order = lines[index], LINE_ORDER
    else:
        name = path if path in FIELD_GUIDE else path.split(".")[0]
        segments, order = header, HEADER_ORDER
    due = order.get(field_tag(name), len(order))
    position, tag = segments[0]
    for seen_position, seen_tag in segments:
        rank = order.get(seen_tag, len(order))
        if rank > due:
            break
        if rank < due:
            position, tag = seen_position, seen_tag
    return source_location(ref, (position, tag, None, None))


def _layout(message: Message) -> tuple[list[tuple[int, str]], list[list[tuple[int, str]]]]:
    """(position, tag) of the header segments (UNH first), and of each CST
    group's segments: the sections as ``_walk`` walks them (computed only
    when a missing field is to be located)."""
    header: list[tuple[int, str]] = [(1, "UNH")]
    lines: list[list[tuple[int, str]]] = []
    section = _HEADER
    for index, segment in enumerate(message.segments, start=1):
        tag = segment.tag
        if tag == "UNH" or tag == "UNT":
            continue
        if tag == "UNS":
            section = _LINES if segment.get(1) == "D" else _SUMMARY
        elif section == _HEADER:
            header.append((index, tag))
        elif section == _LINES:
            if tag == "CST":
                lines.append([(index, tag)])
            elif lines:
                lines[-1].append((index, tag))
    return header, lines


def is_guide_message(message: Message) -> bool:
    return (message.type, message.version, message.release) == GUIDE
