"""The ordinary CAD-IN ``Declaration`` element → the dict for ``Declaration``, fast.

``map_cad_declaration`` (``mappings.cadxml_declaration``) tries this first when
its caller needs no ``sources``. Rather than walking the element with lxml (a
Python proxy, ``.text``, ``.sourceline`` per element: most of the walk's
time), it serializes the already-parsed subtree once, in C
(``etree.tostring``), and reads the values with precompiled regular
expressions: one match for everything before the lines, one per
``Commodity``, one for the end. cad-in.xsd fixes the order of the elements, so
the patterns spell the schema's sequence out, with its optional elements and
whitespace between tags (indented files). With the optional C extension
``mappings._cadxml_tree`` the same groups are read from the parsed tree
instead, without serializing or matching (``text_groups`` is its reference;
``CARM_EDIFACT_ACCELERATOR=0`` switches it off with the other accelerators).

The result is exactly the dict the walk hands to ``Declaration.model_validate``
— same keys, same values, same conversions — and no sources. Whenever the walk
would report something, or the element is merely unusual, this gives up
(returns None) and the walk maps the element again, so every finding is the
walk's (pydantic's complaints too: when pydantic refuses this dict,
``map_cad_declaration`` runs the walk, which places them). It gives up on:

* anything the patterns do not spell out: an element out of the schema's
  order, missing or repeated (a second ``GoodsShipment``, a fourth
  ``DutyTaxFee``), an empty element (``<ID/>``), a namespace prefix or any
  other attribute than the schema's ``currencyID``/``unitCode`` (the
  ``Declaration`` start tag aside: the walk never reads it), a comment, a
  processing instruction, text between elements other than whitespace;
* a reference other than ``&amp;`` ``&lt;`` ``&gt;`` ``&quot;`` ``&apos;``
  ``&#n;`` ``&#xh;`` in a value (the others are undone exactly);
* a second ``DutyTaxFee`` of one type in a line;
* a ``currencyID`` of a line's amount other than ``CAD`` — for
  ``ItemChargeAmount`` and ``TotalAmount``: other than the declaration's
  currency — written exactly so;
* no usable ``VersionID`` unless ``FunctionCode`` is 9, a ``VersionID`` or a
  line ``SequenceNumeric`` that is not ASCII digits;
* a ``ReleaseDateTime`` or ``IssueDateTime`` that is not a date;
* a line amount that is not a plain number within its digit limits
  (``domain.checked_amounts.fits_pattern``, spelled into the line pattern):
  the caller validates the dict with ``validate_checked``, which leaves those
  checks to this module.

Its counterpart in ``mappings.cadxml_declaration`` is the walk (``_walk`` and
``_map_lines``): a change to either must be made to both
(tests/test_cadxml_fast_mapping.py compares them).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lxml import etree

from domain.checked_amounts import LINE_DIGIT_LIMITS, fits_pattern

Data = dict[str, Any]
Groups = dict[str, Any]  # a match's named groups: str, or None for an absent optional element


@dataclass(frozen=True, slots=True)
class FastMapping:
    """What the walk would hand to pydantic, and the ``VersionID`` as read
    (collapsed; None when absent or blank)."""

    data: Data
    version: str | None


# --- the patterns ---------------------------------------------------------------------
# Spelled out from the schema's sequences. A value is ``[^<]*`` (text only: a
# child, a comment or CDATA would start with ``<``), an attribute ``[^"]*``
# (tostring always quotes with ``"``). Every quantifier is possessive: in the
# schema's sequences each optional element starts with a tag the next one does
# not, so backtracking could never find another match — and Python's ``re``
# runs these patterns two to three times faster without keeping the state.

_WS = r"\s*+"


_TEXT = "[^<]*+"


def _amount_limits(*fields: str) -> tuple[int, int]:
    """The digit limits of a line amount that goes to one of ``fields`` (by
    its context): those of each, at once."""
    limits = [LINE_DIGIT_LIMITS[field] for field in fields]
    return min(whole for whole, _ in limits), min(places for _, places in limits)


def _amount(*fields: str) -> str:
    """The text of such an amount: a plain number within ``_amount_limits``."""
    return fits_pattern(_amount_limits(*fields))


_PAID = ("customs_duty", "gst", "excise_tax")  # what TaxAssessedAmount goes to


def _leaf(name: str, group: str | None = None, text: str = _TEXT) -> str:
    """A text-only element; its text, matching ``text``, captured as ``group``."""
    value = f"(?P<{group}>{text})" if group else text
    return f"<{name}>{value}</{name}>{_WS}"


def _attributed(name: str, attribute: str, group: str | None = None, *, value: str | None = None, text: str = _TEXT) -> str:
    """A text-only element with one attribute: the text (matching ``text``)
    as ``group``, the attribute as ``group_attribute`` — or required to be
    ``value``."""
    if value is not None:
        given = re.escape(value)
    elif group:
        given = f'(?P<{group}_{attribute}>[^"]*+)'
    else:
        given = '[^"]*+'
    captured = f"(?P<{group}>{text})" if group else text
    return f'<{name} {attribute}="{given}">{captured}</{name}>{_WS}'


def _cad(name: str, group: str, text: str = _TEXT) -> str:
    """An amount the walk expects in CAD: another currencyID is its to report (or
    to let pass, where it ignores the amount: giving up is never wrong)."""
    return _attributed(name, "currencyID", group, value="CAD", text=text)


def _container(name: str, content: str, *, may_be_empty: bool = False) -> str:
    """An element of elements; ``may_be_empty``: all its children are optional (``<X/>`` too)."""
    full = f"<{name}>{_WS}{content}</{name}>{_WS}"
    return f"(?:{full}|<{name}/>{_WS})" if may_be_empty else full


def _optional(pattern: str) -> str:
    return f"(?:{pattern})?+"


def _party_element(name: str, key: str) -> str:
    return _container(name, _optional(_leaf("Name", f"{key}_name")) + _leaf("ID", f"{key}_account"))


def _duty_tax_fee_element(n: int) -> str:
    """The n-th DutyTaxFee of a line: what its amounts are, its TypeCode tells."""
    return _container(
        "DutyTaxFee",
        _leaf("TypeCode", f"fee{n}_type")
        + _optional(_leaf("TaxRateNumeric", f"fee{n}_rate", _amount("duty_rate")))
        + _optional(_container("DutyTaxFeeAssessmentBasis", _cad("AdValoremTaxBaseAmount", f"fee{n}_base", _amount("value_for_tax"))))
        + _optional(_container("Payment", _cad("TaxAssessedAmount", f"fee{n}_paid", _amount(*_PAID)))),
    )


_AMENDMENT = (
    f"(?P<amendment><Amendment>){_WS}"
    + _leaf("ChangeReasonCode", "reason_code")
    + _optional(
        _container(
            "AdditionalInformation",
            _optional(_leaf("StatementDescription", "explanation")) + _optional(_leaf("StatementTypeCode", "statement_type")),
            may_be_empty=True,
        )
    )
    + f"(?:{_container('Pointer', _leaf('Location'))})*+"
    + f"</Amendment>{_WS}"
)
_CONSIGNMENT = _container(
    "Consignment",
    _optional(_container("Freight", _attributed("RateAmount", "currencyID")))
    + _optional(_container("TransportContractDocument", _leaf("ID", "cargo_control_number"))),
    may_be_empty=True,
)
_ADDRESS = _container(
    "Address",
    _optional(_leaf("CityName", "city"))
    + _optional(_leaf("CountryCode", "country"))
    + _optional(_leaf("Line", "street"))
    + _optional(_leaf("PostcodeID", "postcode")),
    may_be_empty=True,
)
_HEADER = re.compile(
    f"<Declaration(?:\\s[^>]*+)?>{_WS}"  # its attributes: namespace declarations, which the walk never reads
    + _leaf("FunctionCode", "function")
    + _optional(_leaf("FunctionalReferenceID", "filer_reference"))
    + _leaf("ID", "transaction_number")
    + _optional(_leaf("LanguageCode"))
    + _leaf("TypeCode", "type_code")
    + _optional(_leaf("VersionID", "version"))
    + _optional(_attributed("TotalGrossMassMeasure", "unitCode"))
    + _optional(_AMENDMENT)
    + _optional(_container("BorderTransportMeans", _leaf("ModeCode")))
    + _optional(_CONSIGNMENT)
    + _container("CurrencyExchange", _leaf("CurrencyTypeCode", "currency") + _leaf("RateNumeric", "exchange_rate"))
    + _party_element("Declarant", "declarant")
    + _container("ReleaseLocation", _leaf("ID", "office_of_release"))
    + _container("Status", _leaf("ReleaseDateTime", "release_date"))
    + f"<GoodsShipment>{_WS}"
    + _optional(_leaf("SequenceNumeric"))
    + _optional(_leaf("ExitDateTime"))
    + _optional(_container("ExportCountry", _leaf("CountryCode")))
    + _party_element("Importer", "importer")
    + _container(
        "Invoice",
        _leaf("ID", "invoice_number")
        + _optional(_leaf("IssueDateTime", "issue_date"))
        + _optional(_leaf("TypeCode"))
        + _optional(_attributed("TotalAmount", "currencyID", "total")),
    )
    + _container("Seller", _leaf("Name", "vendor_name") + _optional(_ADDRESS))
    + f"<GovernmentAgencyGoodsItem>{_WS}"
)
_LINE = re.compile(
    f"<Commodity>{_WS}"
    # ASCII digits: other text the walk leaves out (pydantic complains) or fails to int()
    + f"<SequenceNumeric>(?P<line_number>[0-9]++)</SequenceNumeric>{_WS}"
    + _leaf("Description", "description")
    + _container("Classification", _leaf("ID", "hs_code") + _leaf("BindingTariffReferenceID", "tariff_treatment"))
    + _cad("CustomsValueAmount", "value_for_duty", _amount("value_for_duty"))
    + _container("GoodsMeasure", _attributed("TariffQuantity", "unitCode", "quantity", text=_amount("quantity")))
    + _optional(_container("InvoiceLine", _attributed("ItemChargeAmount", "currencyID", "invoice_amount", text=_amount("invoice_amount"))))
    + _container("Origin", _leaf("CountryCode", "country_of_origin"))
    + _optional(_duty_tax_fee_element(1) + _optional(_duty_tax_fee_element(2) + _optional(_duty_tax_fee_element(3))))
    + f"</Commodity>{_WS}"
)
_END = re.compile(f"</GovernmentAgencyGoodsItem>{_WS}</GoodsShipment>{_WS}</Declaration>")


class _GiveUp(Exception):
    """Raised inside this module only: the walk must map this element."""


Found = tuple[Groups, list[tuple[Any, ...]]]
"""``_HEADER``'s groups by name and each ``_LINE``'s groups, references undone."""


def _tree_groups() -> Callable[[etree._Element], Found | None] | None:
    """``groups`` of the C extension ``mappings._cadxml_tree``, which reads the
    same groups from the parsed tree (no serializing, no matching), once it
    has checked the node layouts it reads on a probe element; None when it is
    not built or the layouts differ."""
    try:
        from mappings import _cadxml_tree
    except ImportError:  # not built  # pragma: no cover
        return None
    probe = etree.fromstring(b'<p:probe xmlns:p="urn:probe" a="v">text<c/></p:probe>')
    amounts = {
        "value_for_duty": _amount_limits("value_for_duty"), "quantity": _amount_limits("quantity"),
        "invoice_amount": _amount_limits("invoice_amount"), "duty_rate": _amount_limits("duty_rate"),
        "value_for_tax": _amount_limits("value_for_tax"), "paid": _amount_limits(*_PAID),
    }
    try:
        _cadxml_tree.configure(etree._Element, probe, amounts)
    except RuntimeError:  # pragma: no cover
        return None
    return _cadxml_tree.groups


_c_groups = _tree_groups()
_accelerated = _c_groups if os.environ.get("CARM_EDIFACT_ACCELERATOR", "1") != "0" else None


def accelerator_available() -> bool:
    """Whether the C tree reader was built, imported and found the layouts it reads."""
    return _c_groups is not None


def use_accelerator(enabled: bool) -> bool:
    """Switch the C tree reader on or off (when available); returns whether it was on."""
    global _accelerated
    was = _accelerated is not None
    _accelerated = _c_groups if enabled else None
    return was


def map_fast(element: etree._Element) -> FastMapping | None:
    """The dict the walk would build for this Declaration element, or None
    when the walk must map it (see the module's docstring)."""
    tree = _accelerated
    found = tree(element) if tree is not None else text_groups(element)
    if found is None:
        return None
    fields, lines = found
    try:
        data, version = _header_data(fields)
        currency = data["currency"]
        data["lines"].extend([_line_data(groups, currency) for groups in lines])
    except _GiveUp:
        return None
    return FastMapping(data, version)


def text_groups(element: etree._Element) -> Found | None:
    """The patterns' groups on the serialized element (``etree.tostring``, C),
    references undone; None where they do not match it. The reference of
    ``mappings._cadxml_tree``."""
    xml = etree.tostring(element, encoding="unicode", with_tail=False)
    header = _HEADER.match(xml)
    if header is None:
        return None
    escaped = "&" in xml  # then the values of a match with a reference are unescaped
    lines: list[tuple[Any, ...]] = []
    try:
        fields = header.groupdict()
        if escaped:
            fields = {name: _unescape(value) for name, value in fields.items()}
        position = header.end()
        while (line := _LINE.match(xml, position)) is not None:
            end = line.end()
            groups = line.groups()
            if escaped and xml.find("&", position, end) >= 0:
                groups = tuple(map(_unescape, groups))
            lines.append(groups)
            position = end
    except _GiveUp:
        return None
    if _END.fullmatch(xml, position) is None:
        return None
    return fields, lines


# --- values, read as the walk reads them ---------------------------------------------


def _token(text: str) -> str | None:
    """xs:token content: whitespace collapsed, empty as None (the walk's ``_token``)."""
    return " ".join(text.split()) or None


def _date(text: str) -> dt.date:
    """A CCYYMMDD date, read as the walk's ``_date`` reads it; where that fails, the walk reports."""
    value = text.strip()
    try:
        return dt.date(int(value[0:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        raise _GiveUp from None


def _check_currency(given: str, currency: str | None) -> None:
    """Where the walk could report a currencyID, give up: it must be the declaration's currency, as is."""
    if given != currency:
        raise _GiveUp


def _header_data(g: Groups) -> tuple[Data, str | None]:
    """The walk's ``map_cad_declaration`` before the lines, with its VersionID rule."""
    data: Data = {"lines": []}
    data["function"] = _token(g["function"])
    if g["filer_reference"] is not None:
        data["filer_reference"] = _token(g["filer_reference"])
    data["transaction_number"] = _token(g["transaction_number"])
    data["type_code"] = _token(g["type_code"])
    version = _token(g["version"]) if g["version"] is not None else None
    data["version"] = _version(version, data["function"])
    if g["amendment"] is not None:
        data["amendment"] = _amendment(g)
    if g["cargo_control_number"] is not None:
        data["cargo_control_number"] = _token(g["cargo_control_number"])
    data["currency"] = _token(g["currency"])
    data["exchange_rate"] = g["exchange_rate"]
    data["declarant"] = _party(g, "declarant")
    data["office_of_release"] = _token(g["office_of_release"])
    data["release_date"] = _date(g["release_date"])
    data["importer"] = _party(g, "importer")
    data["invoice"] = _invoice(g, data["currency"])
    data["vendor"] = _vendor(g)
    return data, version


def _version(version: str | None, function: str | None) -> int:
    """Without a VersionID (or a blank one) an original is version 1 — for a
    change or a cancellation the walk reports it missing."""
    if version is None and function == "9":
        return 1
    if version is not None and version.isdigit() and version.isascii():
        return int(version)
    raise _GiveUp


def _amendment(g: Groups) -> Data:
    amendment: Data = {"reason_code": _token(g["reason_code"])}
    explanation = g["explanation"]
    if explanation and explanation.strip():
        amendment["explanation"] = explanation
    if g["statement_type"] is not None and _token(g["statement_type"]) == "ADJ":
        amendment["kind"] = "adjustment"
    return amendment


def _party(g: Groups, key: str) -> Data:
    party: Data = {}
    name = g[f"{key}_name"]
    if name is not None:
        party["name"] = name
    party["account"] = _token(g[f"{key}_account"])
    return party


def _invoice(g: Groups, currency: str | None) -> Data:
    invoice: Data = {"number": _token(g["invoice_number"])}
    if g["issue_date"] is not None:
        invoice["issue_date"] = _date(g["issue_date"])
    if g["total"] is not None:
        invoice["total_amount"] = g["total"]
        _check_currency(g["total_currencyID"], currency)
    return invoice


def _vendor(g: Groups) -> Data:
    vendor: Data = {"name": g["vendor_name"]}
    for name in ("city", "street"):  # as written
        if g[name] is not None:
            vendor[name] = g[name]
    for name in ("country", "postcode"):  # collapsed
        if g[name] is not None:
            vendor[name] = _token(g[name])
    return vendor


def _line_data(groups: tuple[Any, ...], currency: str | None) -> Data:
    """The walk's ``_map_lines`` for one Commodity, from ``_LINE``'s groups in
    document order (the pattern itself requires ``currencyID="CAD"`` where the
    walk expects CAD)."""
    (
        number, description, hs_code, tariff_treatment, value_for_duty, unit, quantity, invoice_currency, invoice_amount, country,
        type1, rate1, base1, paid1, type2, rate2, base2, paid2, type3, rate3, base3, paid3,
    ) = groups
    line: Data = {
        "line_number": int(number),
        "description": description,
        "hs_code": hs_code.strip(),
        "tariff_treatment": tariff_treatment.strip(),
        "value_for_duty": value_for_duty,
        "quantity": quantity,
        "unit": unit.strip(),
        "country_of_origin": country.strip(),
    }
    if invoice_amount is not None:
        _check_currency(invoice_currency, currency)
        line["invoice_amount"] = invoice_amount
    if type1 is not None:
        types = _duty_tax_fee_data(line, (), type1, rate1, base1, paid1)
        if type2 is not None:
            types = _duty_tax_fee_data(line, types, type2, rate2, base2, paid2)
            if type3 is not None:
                _duty_tax_fee_data(line, types, type3, rate3, base3, paid3)
    return line


def _duty_tax_fee_data(
    line: Data, types: tuple[str, ...], fee_type: str, rate: str | None, base: str | None, paid: str | None
) -> tuple[str, ...]:
    """One DutyTaxFee: its TypeCode says what its amounts are. Returns the
    types seen so far in the line."""
    fee_type = fee_type.strip()
    if fee_type in types:  # the walk reports a second one of a type
        raise _GiveUp
    if fee_type == "CUD":
        if rate is not None:
            line["duty_rate"] = rate
        if paid is not None:
            line["customs_duty"] = paid
    elif fee_type == "GST":
        if base is not None:
            line["value_for_tax"] = base
        if paid is not None:
            line["gst"] = paid
    elif fee_type == "EXC" and paid is not None:
        line["excise_tax"] = paid
    return (*types, fee_type)


# --- references in values ------------------------------------------------------------

_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


def _unescape(text: str | None) -> str | None:
    """Undo tostring's escaping: the five named references and ``&#n;``
    ``&#xh;`` (it writes ``&#13;`` in text, ``&#10;`` ``&#9;`` in attributes);
    any other reference gives up."""
    if not text or "&" not in text:
        return text
    head, *rest = text.split("&")
    out = [head]
    for part in rest:
        name, semicolon, tail = part.partition(";")
        if not semicolon:
            raise _GiveUp
        out.append(_character(name))
        out.append(tail)
    return "".join(out)


def _character(name: str) -> str:
    """The character of a reference's name (``amp``, ``#13``, ``#xD``)."""
    if name in _NAMED:
        return _NAMED[name]
    digits, base = (name[2:], 16) if name.startswith("#x") else (name[1:], 10)
    if not name.startswith("#") or not digits.isascii() or not digits.isalnum():
        raise _GiveUp
    try:
        return chr(int(digits, base))
    except (ValueError, OverflowError):
        raise _GiveUp from None
