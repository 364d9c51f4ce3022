"""CUSDEC D.96B (guide CAD01, docs/formats/cusdec-cad.md) → ``Declaration``.

The guide (``mappings.cusdec_guide.CAD01``) says which segment, element and
component carries which field; ``mappings.edifact_walk.read_message`` walks one
message against it once, recording where every field came from, so that any
later error about a field — ours, pydantic's or the portal's pointer — is
reported at its EDIFACT position. This module adds what is not a field: the
sections' presence, the line count, each line's place under its invoice, and
where a missing field is reported.

Lines keep their place in the message as their domain path (``lines[2]`` is
the third CST group, ``Declaration.lines[2]``): the lines of one invoice
follow each other, in the order of the invoices.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from diagnostics import Finding, Location
from diagnostics.field_paths import flat_line_path, line_starts, nearest_source, pydantic_complaints
from domain import Declaration
from mappings.cusdec_guide import CAD01
from mappings.edifact_guide import SegmentRule, Source, source_location
from mappings.edifact_walk import Reading, read_message
from parsers.edifact.model import Message

GUIDE = CAD01.identifier

__all__ = ["GUIDE", "MappingResult", "Source", "describe_field", "is_guide_message", "map_cusdec", "source_location"]


def describe_field(path: str) -> str:
    """``lines[2].hs_code`` → ``line 3 hs_code (CST C246 #1 7361)``."""
    return CAD01.describe(path)


@dataclass(slots=True)
class MappingResult:
    """The declaration (None when it could not be built), the findings, and
    where each domain field came from."""

    declaration: Declaration | None
    findings: list[Finding]
    sources: Mapping[str, Source]  # worked out when first asked (``edifact_walk.Sources``)
    message_ref: str

    def locate(self, path: str | None) -> Location:
        """The EDIFACT location of a domain path, or of its nearest parent."""
        return source_location(self.message_ref, nearest_source(self.sources, path))


def map_cusdec(message: Message, decimal_mark: str = ".") -> MappingResult:
    """Map one CUSDEC message of guide CAD01 to a Declaration."""
    reading = read_message(CAD01, message, decimal_mark)
    for code in ("D", "S"):
        if f"UNS+{code}" not in reading.seen:
            what = "detail" if code == "D" else "summary"
            reading.findings.append(
                Finding("13", f"UNS+{code} (start of the {what} section) is missing", _at_end(message))
            )
    if "CNT+5" in reading.seen:
        _check_line_count(reading, message.reference)
    placed = _place_lines(reading, message.reference)
    declaration = _validate(reading, message) if placed else None
    return MappingResult(declaration, reading.findings, reading.sources, message.reference)


def _at_end(message: Message) -> Location:
    trailer = message.trailer
    return Location(message_ref=message.reference, segment=len(message.segments), tag=trailer.tag if trailer else None)


def _check_line_count(reading: Reading, reference: str) -> None:
    index, segment = reading.seen["CNT+5"]
    declared = segment.get(1, 2)
    actual = len(reading.data.get("lines", ()))
    if declared.isascii() and declared.isdigit() and int(declared) == actual:
        return
    location = Location(message_ref=reference, segment=index, tag="CNT", element=1, component=2)
    if not (declared.isascii() and declared.isdigit()):
        reading.findings.append(Finding("12", f"CNT+5 line count {declared!r} is not a number", location))
    else:
        reading.findings.append(Finding("29", f"CNT+5 says {int(declared)} lines, the message has {actual}", location))


def _place_lines(reading: Reading, reference: str) -> bool:
    """Move the lines read (``lines``) under their invoices, by the invoice
    number each names (``DOC+380`` in its CST group; with one invoice it may
    say none). False (and findings) when a line cannot be placed: it names no
    invoice or an unknown one, or the lines of the invoices are interleaved."""
    data = reading.data
    lines: list[dict[str, Any]] = data.pop("lines", [])
    invoices: list[dict[str, Any]] = data.setdefault("invoices", [])
    numbers: dict[Any, int] = {}
    for index, invoice in enumerate(invoices):
        number = invoice.get("number")
        if number in numbers and len(invoices) > 1:
            where = source_location(reference, reading.sources.get(f"invoices[{index}].number"))
            reading.findings.append(
                Finding("12", f"invoice number {number} appears twice; lines name their invoice by number", where)
            )
            return False
        numbers.setdefault(number, index)
    current, problems = 0, 0
    for index, line in enumerate(lines):
        number = line.pop("invoice", None)
        if number is None and len(invoices) > 1:
            reading.findings.append(
                Finding(
                    "13",
                    f"line {index + 1} names no invoice (DOC+380 in its CST group); the message has {len(invoices)}",
                    _line_location(reading, reference, index),
                )
            )
            problems += 1
            continue
        owner = numbers.get(number, -1) if number is not None else 0
        if owner < 0:
            reading.findings.append(
                Finding(
                    "12",
                    f"line {index + 1} names invoice {number}, which no DOC+380 of the header declares",
                    _line_location(reading, reference, index),
                )
            )
            problems += 1
        elif owner < current:
            reading.findings.append(
                Finding(
                    "12",
                    f"line {index + 1} of invoice {number} follows the lines of a later invoice: "
                    "the lines are grouped by invoice, in the order of the invoices",
                    _line_location(reading, reference, index),
                )
            )
            problems += 1
        elif invoices:
            current = owner
            invoices[owner].setdefault("lines", []).append(line)
    return not problems


def _line_location(reading: Reading, reference: str, index: int) -> Location:
    """Where a finding about the invoice of line ``index`` is reported: its DOC+380, else its CST."""
    sources = reading.sources
    return source_location(reference, sources.get(f"lines[{index}].invoice", sources.get(f"lines[{index}]")))


def _validate(reading: Reading, message: Message) -> Declaration | None:
    """Build the Declaration; turn pydantic's complaints into located findings
    (a line's at its place in the message: ``invoices[1].lines[0]`` → ``lines[3]``)."""
    try:
        return Declaration.model_validate(reading.data)
    except ValidationError as error:
        ref = message.reference
        starts = line_starts([len(invoice.get("lines", ())) for invoice in reading.data.get("invoices", ())])
        flat = functools.partial(flat_line_path, starts=starts)
        for path, missing, detail in pydantic_complaints(error, reading.failed, flat):
            if missing:
                location = _missing_location(reading, ref, path)
            else:
                location = source_location(ref, nearest_source(reading.sources, path))
            reading.findings.append(Finding("13" if missing else "12", f"{describe_field(path)} {detail}", location))
        return None


def _order(rules: tuple[SegmentRule, ...], first: tuple[str, ...] = ()) -> dict[str, int]:
    """Tag → rank in the guide's order of ``rules`` and their groups (first occurrence)."""
    order = {tag: rank for rank, tag in enumerate(first)}

    def visit(group: tuple[SegmentRule, ...]) -> None:
        for rule in group:
            order.setdefault(rule.tag, len(order))
            visit(rule.group)

    visit(rules)
    return order


# The guide's segment order per section. A missing field is reported, as ISO 9735
# UCS 0096 asks, at the last segment processed before the place its segment was due.
HEADER_ORDER = _order(CAD01.sections[0].rules, ("UNH",))
LINE_ORDER = _order(CAD01.sections[1].rules)


def _missing_location(reading: Reading, ref: str, path: str) -> Location:
    """Where a missing field is reported: where its element stands when the
    segment is there with the element empty; otherwise, as ISO 9735 UCS 0096
    asks for a missing segment, at the last segment processed before the
    place the field's segment was due (in the header, or in the field's line)."""
    if path in reading.sources:
        return source_location(ref, reading.sources[path])
    if re.fullmatch(r"invoices\[\d+\]\.lines", path):  # an invoice no line names: at its DOC+380
        return source_location(ref, nearest_source(reading.sources, path))
    if path.startswith("lines["):
        item = path[: path.index("]") + 1]
        segments, order = reading.layout.get(item, []), LINE_ORDER
    else:
        segments, order = reading.layout[""], HEADER_ORDER
    if not segments:
        return source_location(ref, None)
    due = order.get(CAD01.tag_of(path), len(order))
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
