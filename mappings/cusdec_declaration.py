"""CUSDEC D.96B (guide CAD01, docs/formats/cusdec-cad.md) → ``Declaration``.

The mapper walks one message once. Every field it sets remembers the segment,
element and component it came from, so that any later error about the field —
ours, pydantic's or the portal's pointer — can be reported at its EDIFACT
position.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from diagnostics import Finding, Location
from diagnostics.field_paths import nearest_source, parent_path, path_from_loc
from domain import Declaration
from mappings.edifact_values import ValueProblem, parse_date_102, parse_decimal
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


@dataclass
class MappingResult:
    """The declaration (None when it could not be built), the findings, and
    where each domain field came from."""

    declaration: Declaration | None
    findings: list[Finding]
    sources: dict[str, Source]
    message_ref: str

    def locate(self, path: str | None) -> Location:
        """The EDIFACT location of a domain path, or of its nearest parent."""
        return source_location(self.message_ref, nearest_source(self.sources, path))


class _Builder:
    """Collects field values with their locations while walking segments."""

    def __init__(self, message: Message, decimal_mark: str) -> None:
        self.message = message
        self.decimal_mark = decimal_mark
        self.data: dict[str, Any] = {"lines": []}
        self.sources: dict[str, Source] = {}
        self.findings: list[Finding] = []
        self.failed: set[str] = set()
        self.header: list[tuple[int, str]] = [(1, "UNH")]  # (position, tag) of the header segments
        self.lines: list[list[tuple[int, str]]] = []  # the same, per line group
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
        else:
            _assign(target if target is not None else self.data, path, value)

    def decimal(self, text: str) -> Any:
        return parse_decimal(text, self.decimal_mark)


def _assign(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for name in parents:
        data = data.setdefault(name, {})
    data[last] = value


def _joined_text(segment: Segment, element: int) -> str:
    parts = segment.elements[element - 1] if len(segment.elements) >= element else []
    return " ".join(part for part in parts if part)


def map_cusdec(message: Message, decimal_mark: str = ".") -> MappingResult:
    """Map one CUSDEC message of guide CAD01 to a Declaration."""
    builder = _Builder(message, decimal_mark)
    section = "header"
    line: dict[str, Any] | None = None
    line_prefix = ""
    tax_type = ""
    after = ""  # the segment that qualifies a following DTM/CUX: "DOC" or "MOA39"
    count_seen: tuple[int, Segment] | None = None
    uns_positions: dict[str, int] = {}

    for index, segment in enumerate(message.segments, start=1):
        builder.index = index
        tag = segment.tag
        qualifier = segment.get(1)
        if tag in ("UNH", "UNT"):
            continue
        if tag == "UNS":
            section = "lines" if qualifier == "D" else "summary"
            uns_positions[qualifier] = index
            continue
        if section == "header":
            builder.header.append((index, tag))
            after = _map_header_segment(builder, segment, tag, qualifier, after)
        elif section == "lines":
            if tag == "CST":
                line = {}
                builder.data["lines"].append(line)
                builder.lines.append([])
                line_prefix = f"lines[{len(builder.data['lines']) - 1}]."
                builder.sources[line_prefix[:-1]] = (index, tag, None, None)
                builder.put("line_number", segment, 1, target=line, prefix=line_prefix, convert=_line_number)
                builder.put("hs_code", segment, 2, target=line, prefix=line_prefix)
                builder.put("tariff_treatment", segment, 3, target=line, prefix=line_prefix)
                tax_type = ""
            elif line is None:
                builder.problem(
                    "14", f"{tag} before the first CST of the detail section", builder.loc(segment)
                )
                continue
            else:
                tax_type = _map_line_segment(builder, segment, tag, qualifier, line, line_prefix, tax_type)
            builder.lines[-1].append((index, tag))
        elif tag == "CNT" and qualifier == "5":
            count_seen = (index, segment)

    if "D" not in uns_positions:
        builder.problem("13", "UNS+D (start of the detail section) is missing", _at_end(builder))
    if "S" not in uns_positions:
        builder.problem("13", "UNS+S (start of the summary section) is missing", _at_end(builder))
    if count_seen is not None:
        _check_line_count(builder, *count_seen)
    declaration = _validate(builder)
    return MappingResult(declaration, builder.findings, builder.sources, message.reference)


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


def _map_line_segment(
    builder: _Builder,
    segment: Segment,
    tag: str,
    qualifier: str,
    line: dict[str, Any],
    prefix: str,
    tax_type: str,
) -> str:
    """Map one segment of a CST group; returns the current TAX type."""
    if tag == "FTX" and qualifier == "AAA":
        builder.sources[prefix + "description"] = (builder.index, segment.tag, 4, None)
        text = _joined_text(segment, 4)
        if text:
            line["description"] = text
    elif tag == "LOC" and qualifier == "27":
        builder.put("country_of_origin", segment, 2, target=line, prefix=prefix)
    elif tag == "MEA" and qualifier == "AAE":
        builder.put("unit", segment, 3, 1, target=line, prefix=prefix)
        builder.put("quantity", segment, 3, 2, builder.decimal, target=line, prefix=prefix)
    elif tag == "MOA":
        _map_line_amount(builder, segment, line, prefix, tax_type)
    elif tag == "TAX":
        tax_type = segment.get(2, 1)
        if tax_type == "CUD":
            builder.put("duty_rate", segment, 5, 4, builder.decimal, target=line, prefix=prefix)
    return tax_type


_TAX_AMOUNTS = {("CUD", "124"): "customs_duty", ("EXC", "124"): "excise_tax", ("GST", "124"): "gst", ("GST", "125"): "value_for_tax"}


def _map_line_amount(builder: _Builder, segment: Segment, line: dict[str, Any], prefix: str, tax_type: str) -> None:
    code = segment.get(1, 1)
    if code == "38" and not tax_type:
        builder.put("invoice_amount", segment, 1, 2, builder.decimal, target=line, prefix=prefix)
    elif code == "40" and not tax_type:
        builder.put("value_for_duty", segment, 1, 2, builder.decimal, target=line, prefix=prefix)
        currency = segment.get(1, 3)
        if currency and currency != "CAD":
            builder.problem(
                "12", f"value for duty must be in CAD, not {currency!r}", builder.loc(segment, 1, 3), prefix + "value_for_duty"
            )
    elif (tax_type, code) in _TAX_AMOUNTS:
        builder.put(_TAX_AMOUNTS[(tax_type, code)], segment, 1, 2, builder.decimal, target=line, prefix=prefix)


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
        for item in error.errors(include_url=False):
            path = path_from_loc(item["loc"])
            if _already_reported(path, builder.failed):
                continue
            missing = item["type"] == "missing"
            ref = builder.message.reference
            location = _missing_location(builder, path) if missing else source_location(ref, nearest_source(builder.sources, path))
            detail = "is missing" if missing else f"{item['msg']} (got {item.get('input')!r})"
            builder.findings.append(Finding("13" if missing else "12", f"{describe_field(path)} {detail}", location))
        return None


def _already_reported(path: str, failed: set[str]) -> bool:
    while path:
        if path in failed:
            return True
        path = parent_path(path)
    return False


def _missing_location(builder: _Builder, path: str) -> Location:
    """Where a missing field is reported: where its element stands when the
    segment is there with the element empty; otherwise, as ISO 9735 UCS 0096
    asks for a missing segment, at the last segment processed before the
    place the field's segment was due (in the header, or in the field's line)."""
    ref = builder.message.reference
    if path in builder.sources:
        return source_location(ref, builder.sources[path])
    if path.startswith("lines["):
        index = int(path[6 : path.index("]")])
        name = path[path.index("]") + 2 :].split(".")[0]
        segments, order = builder.lines[index], LINE_ORDER
    else:
        name = path if path in FIELD_GUIDE else path.split(".")[0]
        segments, order = builder.header, HEADER_ORDER
    due = order.get(field_tag(name), len(order))
    position, tag = segments[0]
    for seen_position, seen_tag in segments:
        rank = order.get(seen_tag, len(order))
        if rank > due:
            break
        if rank < due:
            position, tag = seen_position, seen_tag
    return source_location(ref, (position, tag, None, None))


def is_guide_message(message: Message) -> bool:
    return (message.type, message.version, message.release) == GUIDE
