"""``Declaration`` → CUSDEC D.96B body segments (guide CAD01).

The inverse of ``cusdec_declaration``: used to write fixtures and benchmark
files and to prove the mapping round-trips.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from decimal import Decimal

from pydifact.segments import Segment as OutSegment

from domain import Declaration, DeclarationLine
from domain.declaration import AmendmentKind
from mappings.edifact_writer import segment

IDENTIFIER = ("CUSDEC", "D", "96B", "UN", "CAD01")


def _number(value: Decimal) -> str:
    text = format(value, "f")
    return text


def cusdec_segments(declaration: Declaration) -> Iterator[OutSegment]:
    """The segments between UNH and UNT for one declaration."""
    d = declaration
    yield segment("BGM", "929", d.reference, d.function.value)
    yield segment("CST", "", d.type_code)
    yield segment("LOC", "22", d.office_of_release)
    yield segment("DTM", ["271", d.release_date.strftime("%Y%m%d"), "102"])
    if d.amendment is not None:
        kind = ["ADJ"] if d.amendment.kind is AmendmentKind.ADJUSTMENT else ""
        yield segment("FTX", "CHG", "", kind, [d.amendment.reason_code, *_text_parts(d.amendment.explanation or "")])
    if d.filer_reference:
        yield segment("RFF", ["ABE", d.filer_reference])
    if d.cargo_control_number:
        yield segment("RFF", ["CN", d.cargo_control_number])
    yield segment("DOC", "380", d.invoice.number)
    if d.invoice.issue_date:
        yield segment("DTM", ["3", d.invoice.issue_date.strftime("%Y%m%d"), "102"])
    yield segment("NAD", "IM", d.importer.account, "", d.importer.name or "")
    yield segment("NAD", "DT", d.declarant.account, "", d.declarant.name or "")
    v = d.vendor
    yield segment("NAD", "SE", "", "", v.name, v.street or "", v.city or "", "", v.postcode or "", v.country or "")
    total = d.invoice.total_amount if d.invoice.total_amount is not None else sum(
        (line.invoice_amount or Decimal(0) for line in d.lines), Decimal("0.00")
    )
    yield segment("MOA", ["39", _number(total), d.currency])
    yield segment("CUX", ["2", d.currency, "4"], ["3", "CAD", "11"], _number(d.exchange_rate))
    yield segment("UNS", "D")
    for line in d.lines:
        yield from _line_segments(line, d.currency)
    yield segment("UNS", "S")
    yield segment("CNT", ["5", str(len(d.lines))])


def _text_parts(text: str) -> list[str]:
    """Text as at most five 70-character 4440 components, broken between words;
    the mapper joins them again with single spaces."""
    return textwrap.wrap(text, 70, break_on_hyphens=False)[:5]


def _line_segments(line: DeclarationLine, currency: str) -> Iterator[OutSegment]:
    yield segment("CST", str(line.line_number), line.hs_code, line.tariff_treatment)
    yield segment("FTX", "AAA", "", "", _text_parts(line.description))
    yield segment("LOC", "27", line.country_of_origin)
    yield segment("MEA", "AAE", "", [line.unit, _number(line.quantity)])
    if line.invoice_amount is not None:
        yield segment("MOA", ["38", _number(line.invoice_amount), currency])
    yield segment("MOA", ["40", _number(line.value_for_duty), "CAD"])
    if line.duty_rate is not None or line.customs_duty is not None:
        rate = ["", "", "", _number(line.duty_rate)] if line.duty_rate is not None else ""
        yield segment("TAX", "7", "CUD", "", "", rate)
        if line.customs_duty is not None:
            yield segment("MOA", ["124", _number(line.customs_duty)])
    if line.excise_tax is not None:
        yield segment("TAX", "7", "EXC")
        yield segment("MOA", ["124", _number(line.excise_tax)])
    if line.gst is not None or line.value_for_tax is not None:
        yield segment("TAX", "7", "GST", "", "", ["", "", "", "5"])
        if line.gst is not None:
            yield segment("MOA", ["124", _number(line.gst)])
        if line.value_for_tax is not None:
            yield segment("MOA", ["125", _number(line.value_for_tax)])
