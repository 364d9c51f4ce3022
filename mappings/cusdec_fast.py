"""The ordinary CUSDEC message (guide CAD01) → ``Declaration``, without locations.

``map_cusdec`` (``mappings.cusdec_declaration``) tries this first. It walks the
segments once and builds exactly the dict the full mapper hands to
``Declaration.model_validate`` — same keys, same value types, same context
rules — but records no source of any field. It only knows the ordinary case:
as soon as anything would need a location (a finding of the full mapper, a
pydantic error) or is merely unusual, it gives up and returns None, and the
full mapper maps the message again. So every finding, and every location, is
the full mapper's.

It gives up when:

* the decimal mark is neither ``.`` nor ``,``, or a number it reads is not
  ``[0-9]+(.[0-9]+)?`` (``parse_decimal`` would rewrite it, ``1,5``, or refuse it);
* a date it reads is not a valid format-102 date, or its 2379 format is not 102;
* BGM 1001 is not 929, BGM 1004 is not 19 ASCII digits, a line number is not
  ASCII digits;
* the CUX currency is not MOA+39's, a value for duty is not in CAD;
* the sections are not UNS+D then UNS+S, once each, with a CST first after UNS+D;
* a CNT+5 does not give the number of lines in ASCII digits;
* a line amount does not fit its digit limits (``amount_fits``: pydantic
  would refuse it);
* an element it reads without a guard is missing (only the trailing elements
  an ordinary message may leave out are guarded);
* pydantic refuses the data.

Line amounts are checked as they are read, so the declaration is validated
with ``validate_checked`` (``domain.checked_amounts``): pydantic's own schema
without its slow digit checks on them.

With the optional C extension ``mappings._cusdec_lines`` (built by ``pip
install -e .``), the header is mapped by ``Mapper.header`` and the detail
section — most of a message's segments — by ``Mapper.lines``, which do what
``_header`` and ``_lines`` do (the reference, and the path without the
extension). ``CARM_EDIFACT_ACCELERATOR=0`` switches it off, with the other
accelerators; tests/test_cusdec_lines_accelerator.py compares the two paths.
``plain_declaration`` then makes the lines ``DeclarationLine`` instances
where ``domain.trusted_lines`` can (pydantic takes them as they are).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from itertools import islice
from typing import Any

from pydantic import ValidationError

from domain import Declaration
from domain.checked_amounts import LINE_DIGIT_LIMITS, amount_fits, validate_checked
from domain.trusted_lines import build_lines
from mappings.edifact_values import parse_date_102
from parsers.edifact.model import Message, Segment

Elements = list[list[str]]

plain_decimal = re.compile("[0-9]+(?:[.][0-9]+)?").fullmatch
"""ASCII digits with an optional ``.`` fraction: when the decimal mark is ``.`` or
``,``, ``parse_decimal`` accepts them and returns ``Decimal(text)`` (it only
rewrites ``,`` and the decimal mark to ``.``)."""
_digits_dots_newlines = re.compile("[0-9.\n]*").fullmatch

PLAIN_AMOUNTS = {"38": "invoice_amount", "40": "value_for_duty"}
"""MOA qualifier → line field, before any TAX of the line (or after a TAX without type)."""
TAX_AMOUNTS: dict[str, dict[str, str]] = {
    "CUD": {"124": "customs_duty"},
    "EXC": {"124": "excise_tax"},
    "GST": {"124": "gst", "125": "value_for_tax"},
}
"""MOA qualifier → line field after a TAX of each type (none after other types)."""
NO_AMOUNTS: dict[str, str] = {}


class _Unusual(Exception):
    """Raised inside the walk: leave this message to the full mapper."""


_c_mapper: Any = None
"""The C extension's ``Mapper``: ``header(segments, data, numbers)`` -> index
after UNS+D, ``lines(segments, index after UNS+D, lines, numbers)`` -> index
after UNS+S; None from either to give up."""
try:
    from mappings import _cusdec_lines

    _c_mapper = _cusdec_lines.Mapper(Segment, Decimal, PLAIN_AMOUNTS, TAX_AMOUNTS, LINE_DIGIT_LIMITS, parse_date_102)
except Exception:  # not built, or built for another Segment layout  # pragma: no cover
    pass
_accelerated = _c_mapper if os.environ.get("CARM_EDIFACT_ACCELERATOR", "1") != "0" else None


def accelerator_available() -> bool:
    """Whether the C mapper (header and detail sections) was built and imported."""
    return _c_mapper is not None


def use_accelerator(enabled: bool) -> bool:
    """Switch the C mapper on or off (when available); returns whether it was on."""
    global _accelerated
    was = _accelerated is not None
    _accelerated = _c_mapper if enabled else None
    return was


def validate(data: dict[str, Any]) -> Declaration:
    """``validate_checked`` of ``plain_data``'s dict (a module function: the benchmark times it)."""
    return validate_checked(data)


def plain_declaration(message: Message, decimal_mark: str) -> Declaration | None:
    """The Declaration of an ordinary message; None when the full mapper must
    map it (see the module docstring for what is not ordinary)."""
    data = plain_data(message, decimal_mark)
    if data is None:
        return None
    build_lines(data["lines"])
    try:
        return validate(data)
    except ValidationError:
        return None


def plain_data(message: Message, decimal_mark: str) -> dict[str, Any] | None:
    """What the full mapper passes to ``Declaration.model_validate``, or None.

    Numbers are converted with ``Decimal`` as they are read. Line amounts are
    checked against their digit limits then (which makes them plain); the text
    of the others is collected in ``numbers``, to be checked all at once at
    the end: ``Decimal`` accepts more than ``plain_decimal`` (``1e5``, `` 1``,
    ``1.``, …)."""
    if decimal_mark != "." and decimal_mark != ",":
        return None
    data: dict[str, Any] = {"lines": []}
    numbers: list[str] = []
    segments = message.segments
    rest: Iterator[Segment] = iter(segments)
    mapper = _accelerated
    try:
        if mapper is not None and type(segments) is list:  # the C mapper reads a list
            start = mapper.header(segments, data, numbers)
            end = None if start is None else mapper.lines(segments, start, data["lines"], numbers)
            if end is None:
                return None
            rest = islice(segments, end, None)
        else:
            _header(rest, data, numbers)
            _lines(rest, data["lines"], numbers)
        _summary(rest, len(data["lines"]))
    except (_Unusual, IndexError, InvalidOperation):
        return None
    if numbers and not _all_plain(numbers):
        return None
    return data


def _all_plain(numbers: list[str]) -> bool:
    """Whether every text is ``plain_decimal``, given that ``Decimal`` accepted
    each and none is empty.

    Made only of digits and dots, ``Decimal`` accepts ``1``, ``1.5``, and
    ``1.`` and ``.5`` (more dots it refuses); so the texts are plain when, joined
    with newlines, they hold nothing else than digits, dots and those newlines,
    and no dot starts or ends a text. (A single regular expression for
    ``plain_decimal`` repeated is three times slower than these scans.)"""
    joined = "\n".join(numbers)
    return (
        joined.count("\n") == len(numbers) - 1
        and _digits_dots_newlines(joined) is not None
        and joined[0] != "."
        and joined[-1] != "."
        and "\n." not in joined
        and ".\n" not in joined
    )


# The header ----------------------------------------------------------------
#
# Elements are read without a guard where an ordinary message always has them
# (an IndexError gives up, see ``plain_data``); optional trailing elements
# (NAD's) are guarded.

_HeaderHandler = Callable[[dict[str, Any], Elements, str, list[str]], str]


def _header(segments: Iterator[Segment], data: dict[str, Any], numbers: list[str]) -> int:
    """Map the header segments, up to and including UNS+D; returns how many
    segments it read (the index of the segment after UNS+D).

    ``after`` is what qualifies a following DTM or CUX: "DOC" after DOC+380,
    "MOA39" after MOA+39; a DTM keeps it, any other segment but UNH/UNT ends it
    (as in ``_map_header_segment``). Every handler returns the next ``after``."""
    after = ""
    handlers = _HEADER_HANDLERS
    for read, segment in enumerate(segments, start=1):
        tag = segment.tag
        handler = handlers.get(tag)
        if handler is not None:
            after = handler(data, segment.elements, after, numbers)
        elif tag == "UNS":
            if segment.get(1) != "D":
                raise _Unusual
            return read
        elif tag != "UNH" and tag != "UNT":
            after = ""
    raise _Unusual  # no UNS+D


def _decimal(raw: str, numbers: list[str]) -> Decimal:
    """A number, checked at the end (see ``plain_data``)."""
    numbers.append(raw)
    return Decimal(raw)


def _date(values: list[str]) -> dt.date:
    """DTM C507 2380 (not empty) in format 102."""
    if len(values) > 2 and values[2] and values[2] != "102":
        raise _Unusual
    try:
        return parse_date_102(values[1])
    except ValueError:  # a ValueProblem, or int() of a digit it does not read ("²")
        raise _Unusual from None


def _bgm(data: dict[str, Any], elements: Elements, after: str, numbers: list[str]) -> str:
    if elements[0][0] != "929":
        raise _Unusual
    reference = elements[1][0]
    if reference:
        if len(reference) != 19 or not (reference.isascii() and reference.isdigit()):
            raise _Unusual
        data["transaction_number"] = reference[:14]
        data["version"] = int(reference[14:])
    if elements[2][0]:
        data["function"] = elements[2][0]
    return ""


def _cst(data: dict[str, Any], elements: Elements, after: str, numbers: list[str]) -> str:
    if elements[1][0]:
        data["type_code"] = elements[1][0]
    return ""


def _loc(data: dict[str, Any], elements: Elements, after: str, numbers: list[str]) -> str:
    if elements[0][0] == "22" and elements[1][0]:
        data["office_of_release"] = elements[1][0]
    return ""


def _dtm(data: dict[str, Any], elements: Elements, after: str, numbers: list[str]) -> str:
    values = elements[0]
    code = values[0]
    if code == "271":
        if values[1]:
            data["release_date"] = _date(values)
    elif code == "3" and after == "DOC":
        if values[1]:
            data.setdefault("invoice", {})["issue_date"] = _date(values)
    return after


def _ftx(data: dict[str, Any], elements: Elements, after: str, numbers: list[str]) -> str:
    """FTX+CHG: reason code, explanation (the other 4440 components), kind."""
    if elements[0][0] == "CHG":
        text = elements[3]
        if text[0]:
            data.setdefault("amendment", {})["reason_code"] = text[0]
        explanation = " ".join(part for part in text[1:] if part)
        if explanation:
            data.setdefault("amendment", {})["explanation"] = explanation
        if elements[2][0] == "ADJ":
            data.setdefault("amendment", {})["kind"] = "adjustment"
    return ""


def _rff(data: dict[str, Any], elements: Elements, after: str, numbers: list[str]) -> str:
    values = elements[0]
    name = _REFERENCES.get(values[0])
    if name is not None and values[1]:
        data[name] = values[1]
    return ""


def _doc(data: dict[str, Any], elements: Elements, after: str, numbers: list[str]) -> str:
    if elements[0][0] != "380":
        return ""
    if elements[1][0]:
        data.setdefault("invoice", {})["number"] = elements[1][0]
    return "DOC"


def _nad(data: dict[str, Any], elements: Elements, after: str, numbers: list[str]) -> str:
    role = _ROLES.get(elements[0][0])
    if role is not None:
        name, fields = role
        party = data.setdefault(name, {})
        count = len(elements)
        for element, field in fields:
            if element < count and elements[element][0]:
                party[field] = elements[element][0]
    return ""


def _moa(data: dict[str, Any], elements: Elements, after: str, numbers: list[str]) -> str:
    values = elements[0]
    if values[0] != "39":
        return ""
    if values[1]:
        data.setdefault("invoice", {})["total_amount"] = _decimal(values[1], numbers)
    if values[2]:
        data["currency"] = values[2]
    return "MOA39"


def _cux(data: dict[str, Any], elements: Elements, after: str, numbers: list[str]) -> str:
    if after == "MOA39":
        currency = elements[0][1]
        declared = data.get("currency")
        if declared and currency and currency != declared:
            raise _Unusual
        if elements[2][0]:
            data["exchange_rate"] = _decimal(elements[2][0], numbers)
    return ""


_REFERENCES = {"ABE": "filer_reference", "CN": "cargo_control_number"}  # RFF C506 1153 → field
_PARTY_FIELDS = ((1, "account"), (3, "name"))  # 0-based element → field
_VENDOR_FIELDS = ((3, "name"), (4, "street"), (5, "city"), (7, "postcode"), (8, "country"))
_ROLES = {"IM": ("importer", _PARTY_FIELDS), "DT": ("declarant", _PARTY_FIELDS), "SE": ("vendor", _VENDOR_FIELDS)}
_HEADER_HANDLERS: dict[str, _HeaderHandler] = {
    "BGM": _bgm, "CST": _cst, "LOC": _loc, "DTM": _dtm, "FTX": _ftx, "RFF": _rff,
    "DOC": _doc, "NAD": _nad, "MOA": _moa, "CUX": _cux,
}


# The detail and summary sections -------------------------------------------


def _lines(segments: Iterator[Segment], lines: list[dict[str, Any]], numbers: list[str]) -> None:
    """Map the detail section (it must start with CST), up to and including UNS+S.

    The bulk of a message, so one loop with everything inlined. Elements are
    read without a guard where an ordinary message always has them. The
    reference of ``mappings._cusdec_lines`` (see the module docstring)."""
    first = next(segments, None)
    if first is None or first.tag != "CST":
        raise _Unusual
    line = _new_line(first.elements)
    lines.append(line)
    amounts = PLAIN_AMOUNTS  # MOA qualifier -> line field, for the current TAX type
    tax_amounts = TAX_AMOUNTS
    limits = LINE_DIGIT_LIMITS
    for segment in segments:
        tag = segment.tag
        elements = segment.elements
        if tag == "MOA":
            values = elements[0]
            name = amounts.get(values[0])
            if name is not None:
                raw = values[1]
                if raw:
                    line[name] = _checked(raw, limits.get(name), numbers)
                if name == "value_for_duty" and len(values) > 2 and values[2] and values[2] != "CAD":
                    raise _Unusual
        elif tag == "TAX":
            tax_type = elements[1][0]
            amounts = tax_amounts.get(tax_type, NO_AMOUNTS) if tax_type else PLAIN_AMOUNTS
            if tax_type == "CUD" and len(elements) > 4:
                rate = elements[4]
                if len(rate) > 3 and rate[3]:
                    line["duty_rate"] = _checked(rate[3], limits.get("duty_rate"), numbers)
        elif tag == "CST":
            line = _new_line(elements)
            lines.append(line)
            amounts = PLAIN_AMOUNTS
        elif tag == "FTX":
            if elements[0][0] == "AAA":
                parts = elements[3]
                text = parts[0] if len(parts) == 1 else " ".join(filter(None, parts))
                if text:
                    line["description"] = text
        elif tag == "LOC":
            if elements[0][0] == "27" and elements[1][0]:
                line["country_of_origin"] = elements[1][0]
        elif tag == "MEA":
            if elements[0][0] == "AAE":
                values = elements[2]
                if values[0]:
                    line["unit"] = values[0]
                raw = values[1]
                if raw:
                    line["quantity"] = _checked(raw, limits.get("quantity"), numbers)
        elif tag == "UNS":
            if segment.get(1) != "S":
                raise _Unusual
            return
    raise _Unusual  # no UNS+S


def _checked(raw: str, limits: tuple[int, int] | None, numbers: list[str]) -> Decimal:
    """``Decimal(raw)`` of a line amount, which must fit its digit limits;
    one without limits is read as the header's numbers are (``_decimal``)."""
    if limits is None:
        return _decimal(raw, numbers)
    value = Decimal(raw)
    if not amount_fits(raw, limits):
        raise _Unusual
    return value


def _new_line(elements: Elements) -> dict[str, Any]:
    """A line from its CST: line number, HS code, tariff treatment."""
    line: dict[str, Any] = {}
    number = elements[0][0]
    if number:
        if not (number.isascii() and number.isdigit()):
            raise _Unusual
        line["line_number"] = int(number)
    if elements[1][0]:
        line["hs_code"] = elements[1][0]
    if elements[2][0]:
        line["tariff_treatment"] = elements[2][0]
    return line


def _summary(segments: Iterator[Segment], line_count: int) -> None:
    """The summary section: only a CNT+5 that does not match the lines matters."""
    for segment in segments:
        tag = segment.tag
        if tag == "CNT":
            if segment.get(1) == "5":
                declared = segment.get(1, 2)
                if not (declared.isascii() and declared.isdigit() and int(declared) == line_count):
                    raise _Unusual
        elif tag == "UNS":
            raise _Unusual
