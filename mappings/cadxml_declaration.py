"""CAD-IN ``Declaration`` element (WCO data model, cad-in.xsd) → ``Declaration``.

The XML twin of ``cusdec_declaration``: the mapper walks one schema-valid
Declaration subtree once and records, per domain field, where it read the
value — as a compact ``(line, relative XPath)`` tuple; a ``Location`` is built
only when an error needs one. Any later error that knows only a domain path
(pydantic's, a business rule's, the portal's pointer) is placed through
``XmlMappingResult.locate``. The field table is in docs/formats/cad-xml.md.

Finding codes are the ones the EDIFACT mapper uses (UN/EDIFACT 0085): ``12``
invalid value, ``13`` missing, ``35`` too many repetitions.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from lxml import etree
from pydantic import ValidationError

from diagnostics import Finding, Location
from diagnostics.field_paths import nearest_source, parent_path, pydantic_complaints
from domain import Declaration
from domain.declaration import AmendmentKind

NAMESPACE = "urn:wco:datamodel:WCO:Declaration:1"
_N = f"{{{NAMESPACE}}}"

XSource = int | None
"""Where a field was read: its source line. The XPath of a field follows from
its domain path (``xpath_of``), so only the line is recorded."""

SHIPMENT = "/GoodsShipment[1]"
ITEM = SHIPMENT + "/GovernmentAgencyGoodsItem"

# Where each domain field lives, relative to the Declaration (line fields:
# relative to the Commodity). Also the wording of messages about a field.
FIELD_XPATH: dict[str, str] = {
    "function": "/FunctionCode",
    "filer_reference": "/FunctionalReferenceID",
    "transaction_number": "/ID",
    "type_code": "/TypeCode",
    "version": "/VersionID",
    "amendment": "/Amendment",
    "amendment.reason_code": "/Amendment/ChangeReasonCode",
    "amendment.explanation": "/Amendment/AdditionalInformation/StatementDescription",
    "amendment.kind": "/Amendment/AdditionalInformation/StatementTypeCode",
    "cargo_control_number": "/Consignment/TransportContractDocument/ID",
    "currency": "/CurrencyExchange/CurrencyTypeCode",
    "exchange_rate": "/CurrencyExchange/RateNumeric",
    "declarant": "/Declarant",
    "declarant.account": "/Declarant/ID",
    "declarant.name": "/Declarant/Name",
    "office_of_release": "/ReleaseLocation/ID",
    "release_date": "/Status/ReleaseDateTime",
    "importer": SHIPMENT + "/Importer",
    "importer.account": SHIPMENT + "/Importer/ID",
    "importer.name": SHIPMENT + "/Importer/Name",
    "invoice": SHIPMENT + "/Invoice",
    "invoice.number": SHIPMENT + "/Invoice/ID",
    "invoice.issue_date": SHIPMENT + "/Invoice/IssueDateTime",
    "invoice.total_amount": SHIPMENT + "/Invoice/TotalAmount",
    "vendor": SHIPMENT + "/Seller",
    "vendor.name": SHIPMENT + "/Seller/Name",
    "vendor.street": SHIPMENT + "/Seller/Address/Line",
    "vendor.city": SHIPMENT + "/Seller/Address/CityName",
    "vendor.postcode": SHIPMENT + "/Seller/Address/PostcodeID",
    "vendor.country": SHIPMENT + "/Seller/Address/CountryCode",
    "lines": ITEM,
    # per Commodity
    "line_number": "/SequenceNumeric",
    "description": "/Description",
    "hs_code": "/Classification/ID",
    "tariff_treatment": "/Classification/BindingTariffReferenceID",
    "value_for_duty": "/CustomsValueAmount",
    "quantity": "/GoodsMeasure/TariffQuantity",
    "unit": "/GoodsMeasure/TariffQuantity/@unitCode",
    "invoice_amount": "/InvoiceLine/ItemChargeAmount",
    "country_of_origin": "/Origin/CountryCode",
    "duty_rate": "/DutyTaxFee[TypeCode='CUD']/TaxRateNumeric",
    "customs_duty": "/DutyTaxFee[TypeCode='CUD']/Payment/TaxAssessedAmount",
    "excise_tax": "/DutyTaxFee[TypeCode='EXC']/Payment/TaxAssessedAmount",
    "gst": "/DutyTaxFee[TypeCode='GST']/Payment/TaxAssessedAmount",
    "value_for_tax": "/DutyTaxFee[TypeCode='GST']/DutyTaxFeeAssessmentBasis/AdValoremTaxBaseAmount",
}

_LINE_PATH = re.compile(r"^lines\[(\d+)\](?:\.(.+))?$")


def xpath_of(path: str | None) -> str:
    """The XPath, relative to the Declaration, of a domain path:
    ``lines[2].hs_code`` → ``/GoodsShipment[1]/GovernmentAgencyGoodsItem/Commodity[3]/Classification/ID``.
    Unknown paths fall back to their nearest known parent."""
    while path:
        match = _LINE_PATH.match(path)
        if match:
            commodity = f"{ITEM}/Commodity[{int(match.group(1)) + 1}]"
            name = match.group(2)
            if name is None:
                return commodity
            if name in FIELD_XPATH:
                return commodity + FIELD_XPATH[name]
            return commodity
        if path in FIELD_XPATH:
            return FIELD_XPATH[path]
        path = parent_path(path)
    return ""


def describe_field(path: str) -> str:
    """``lines[2].hs_code`` → ``line 3 hs_code (Commodity/Classification/ID)``."""
    match = _LINE_PATH.match(path)
    if match and match.group(2):
        name = match.group(2)
        where = FIELD_XPATH.get(name)
        label = f"line {int(match.group(1)) + 1} {name}"
        where = f"Commodity{where}" if where else None
    else:
        where = FIELD_XPATH.get(path)
        label = path
        where = f"Declaration{where}" if where else None
    return f"{label} ({where})" if where else label


@dataclass
class XmlMappingResult:
    """The declaration (None when it could not be built), the findings, the
    source line of each domain field, and what identifies the declaration
    even when it could not be built."""

    declaration: Declaration | None
    findings: list[Finding]
    sources: dict[str, XSource]
    base: str  # the Declaration's XPath: /DocumentMetaData/Declaration[n]
    line: int | None = None
    transaction_number: str | None = None
    version: str | None = None
    filer_reference: str | None = None

    def locate(self, path: str | None) -> Location:
        return locate(self.base, self.line, self.sources, path)


def locate(base: str, line: int | None, sources: dict[str, XSource], path: str | None, suffix: str = "") -> Location:
    """The Location of a domain path: its XPath, and the line of the field
    (or of its nearest recorded parent, else of the Declaration)."""
    found = nearest_source(sources, path) if path else None
    return Location(xpath=base + xpath_of(path) + suffix, line=found if found is not None else line)


def _token(text: str | None) -> str | None:
    """xs:token content: whitespace collapsed, empty as None."""
    if text is None:
        return None
    value = " ".join(text.split())
    return value or None


def _date(text: str | None) -> dt.date:
    value = (text or "").strip()
    try:
        return dt.date(int(value[0:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        raise ValueError(f"{value!r} is not a date in the form CCYYMMDD") from None


# What the walk does with each element it visits (by Clark name): a section
# (a container that decides what an ambiguous leaf such as ID or Name means)
# or a leaf action. Elements not listed are skipped.
(
    _S_DECLARATION, _S_AMENDMENT, _S_CONSIGNMENT, _S_DOCUMENT, _S_CURRENCY, _S_DECLARANT, _S_RELEASE, _S_STATUS,
    _S_SHIPMENT, _S_EXPORT, _S_IMPORTER, _S_INVOICE, _S_SELLER, _S_ADDRESS, _S_ITEM, _S_COMMODITY,
) = range(16)
_SECTION_TAGS = {
    "Amendment": _S_AMENDMENT, "Consignment": _S_CONSIGNMENT, "TransportContractDocument": _S_DOCUMENT,
    "CurrencyExchange": _S_CURRENCY, "Declarant": _S_DECLARANT, "ReleaseLocation": _S_RELEASE, "Status": _S_STATUS,
    "GoodsShipment": _S_SHIPMENT, "ExportCountry": _S_EXPORT, "Importer": _S_IMPORTER, "Invoice": _S_INVOICE,
    "Seller": _S_SELLER, "Address": _S_ADDRESS, "GovernmentAgencyGoodsItem": _S_ITEM, "Commodity": _S_COMMODITY,
}
(
    _FEE_TYPE, _TAX_ASSESSED, _TAX_BASE, _TAX_RATE, _FEE, _SEQUENCE, _DESCRIPTION, _ID, _BINDING, _CUSTOMS_VALUE,
    _QUANTITY, _ITEM_CHARGE, _COUNTRY, _NAME, _FUNCTION, _FUNCTIONAL_REF, _VERSION, _REASON, _STATEMENT,
    _CURRENCY_CODE, _RATE, _RELEASED, _ISSUED, _TOTAL, _CITY, _LINE, _POSTCODE, _STATEMENT_TYPE,
) = range(100, 128)
_LEAF_TAGS = {
    "TypeCode": _FEE_TYPE, "TaxAssessedAmount": _TAX_ASSESSED, "AdValoremTaxBaseAmount": _TAX_BASE,
    "TaxRateNumeric": _TAX_RATE, "DutyTaxFee": _FEE, "SequenceNumeric": _SEQUENCE, "Description": _DESCRIPTION,
    "ID": _ID, "BindingTariffReferenceID": _BINDING, "CustomsValueAmount": _CUSTOMS_VALUE,
    "TariffQuantity": _QUANTITY, "ItemChargeAmount": _ITEM_CHARGE, "CountryCode": _COUNTRY, "Name": _NAME,
    "FunctionCode": _FUNCTION, "FunctionalReferenceID": _FUNCTIONAL_REF, "VersionID": _VERSION,
    "ChangeReasonCode": _REASON, "StatementDescription": _STATEMENT, "CurrencyTypeCode": _CURRENCY_CODE,
    "RateNumeric": _RATE, "ReleaseDateTime": _RELEASED, "IssueDateTime": _ISSUED, "TotalAmount": _TOTAL,
    "CityName": _CITY, "Line": _LINE, "PostcodeID": _POSTCODE, "StatementTypeCode": _STATEMENT_TYPE,
}
_ACTIONS: dict[str, int] = {_N + name: code for name, code in {**_SECTION_TAGS, **_LEAF_TAGS}.items()}
# before the lines: the sections and the leaves the header takes (the header
# walk visits every element and skips the others: cheaper than lxml's tag
# filter for these few elements, whose set of tags costs more to prepare)
_HEADER_ACTIONS: dict[str, int] = {
    tag: code
    for tag, code in _ACTIONS.items()
    if code not in (_S_COMMODITY, _TAX_ASSESSED, _TAX_BASE, _TAX_RATE, _FEE, _SEQUENCE, _DESCRIPTION, _BINDING, _CUSTOMS_VALUE, _QUANTITY, _ITEM_CHARGE)
}
# within a GovernmentAgencyGoodsItem: the Commodity elements and their leaves
_LINE_VISITED = tuple(
    _N + name
    for name in (
        "Commodity", "TypeCode", "TaxAssessedAmount", "AdValoremTaxBaseAmount", "TaxRateNumeric", "SequenceNumeric", "Description", "ID",
        "BindingTariffReferenceID", "CustomsValueAmount", "TariffQuantity", "ItemChargeAmount", "CountryCode",
    )
)
_SHIPMENT_TAG = _N + "GoodsShipment"
_ID_FIELDS = {
    _S_DECLARATION: "transaction_number",
    _S_DECLARANT: "declarant.account",
    _S_RELEASE: "office_of_release",
    _S_IMPORTER: "importer.account",
    _S_INVOICE: "invoice.number",
    _S_DOCUMENT: "cargo_control_number",
}
_PARTY_KEYS = {_S_AMENDMENT: "amendment", _S_DECLARANT: "declarant", _S_IMPORTER: "importer", _S_INVOICE: "invoice", _S_SELLER: "vendor"}
_NAME_FIELDS = {_S_DECLARANT: "declarant.name", _S_IMPORTER: "importer.name", _S_SELLER: "vendor.name"}
_AMOUNT_FIELDS = {"CUD": "customs_duty", "EXC": "excise_tax", "GST": "gst"}


_LINE_FIELDS = (
    "line_number", "description", "hs_code", "tariff_treatment", "value_for_duty", "quantity", "unit", "invoice_amount",
    "country_of_origin", "duty_rate", "customs_duty", "excise_tax", "value_for_tax", "gst",
)
_LINE_KEYS: list[dict[str, str]] = []
_LINE_KEYS_CACHED = 512  # lines whose source keys are kept between declarations


def _line_keys(index: int) -> dict[str, str]:
    """The ``sources`` keys of line ``index`` (``lines[3].hs_code``), built
    once; ``""``: the line itself (``lines[3]``)."""
    if index < len(_LINE_KEYS):
        return _LINE_KEYS[index]
    prefix = f"lines[{index}]."
    keys = {name: prefix + name for name in _LINE_FIELDS}
    keys[""] = prefix[:-1]
    if index == len(_LINE_KEYS) and index < _LINE_KEYS_CACHED:
        _LINE_KEYS.append(keys)
    return keys


class _Builder:
    def __init__(self, base: str, line: int | None) -> None:
        self.base = base
        self.line = line
        self.data: dict[str, Any] = {"lines": []}
        self.sources: dict[str, XSource] = {}
        self.findings: list[Finding] = []
        self.failed: set[str] = set()

    def problem(self, code: str, message: str, path: str | None, suffix: str = "", *, failed: bool = True) -> None:
        self.findings.append(Finding(code, message, locate(self.base, self.line, self.sources, path, suffix)))
        if path and failed:
            self.failed.add(path)

    def set(self, path: str, value: Any, line: int | None) -> None:
        """Set a dotted header path (``invoice.number``)."""
        self.sources[path] = line
        head, _, name = path.partition(".")
        if name:
            self.data.setdefault(head, {})[name] = value
        else:
            self.data[head] = value


def _second_shipment(base: str, shipments: int, line: int | None) -> Finding:
    return Finding(
        "35",
        f"GoodsShipment {shipments}: this gateway takes one GoodsShipment (one invoice) per "
        "declaration; send each invoice as its own declaration",
        Location(xpath=f"{base}/GoodsShipment[{shipments}]", line=line),
    )


_Checks = list[tuple[str, str | None, str | None]]
"""Currency checks left for the end: (source key, currencyID given, currency expected; None: the declaration's)."""


def _cad_amount(child: etree._Element, line: dict[str, Any], keys: dict[str, str], name: str, sources: dict[str, XSource], checks: _Checks) -> None:
    """A line amount expected in CAD: its text, its source line, and a check of a currencyID other than CAD."""
    line[name] = child.text
    key = keys[name]
    sources[key] = child.sourceline
    given = child.get("currencyID")
    if given is not None and given != "CAD" and given.strip() != "CAD":
        checks.append((key, given, "CAD"))


def _map_lines(b: _Builder, item: etree._Element, checks: _Checks) -> None:
    """The Commodity elements of a GovernmentAgencyGoodsItem, one line each.
    Within a Commodity the schema fixes the order: a DutyTaxFee starts with
    its TypeCode, which says what its amounts are."""
    lines: list[dict[str, Any]] = b.data["lines"]
    sources = b.sources
    actions = _ACTIONS
    fee_type = ""
    fee_types: list[str] = []
    line: dict[str, Any] = {}
    keys: dict[str, str] = {}
    for child in item.iter(*_LINE_VISITED):
        action = actions[child.tag]
        if action == _S_COMMODITY:
            line = {}
            lines.append(line)
            keys = _line_keys(len(lines) - 1)
            sources[keys[""]] = child.sourceline
            fee_types = []
        # then the most frequent first: up to three DutyTaxFee (TypeCode, TaxAssessedAmount) per line
        elif action == _FEE_TYPE:
            fee_type = child.text.strip()
            if fee_type in fee_types:
                b.problem("35", f"line {len(lines)} has a second DutyTaxFee of type {fee_type}", keys[""], f"/DutyTaxFee[{len(fee_types) + 1}]", failed=False)
                fee_type = ""
            fee_types.append(fee_type)
        elif action == _TAX_ASSESSED:
            name = _AMOUNT_FIELDS.get(fee_type)
            if name is not None:
                _cad_amount(child, line, keys, name, sources, checks)
        elif action == _TAX_BASE:
            if fee_type == "GST":
                _cad_amount(child, line, keys, "value_for_tax", sources, checks)
        elif action == _TAX_RATE:
            if fee_type == "CUD":
                line["duty_rate"] = child.text
                sources[keys["duty_rate"]] = child.sourceline
        elif action == _SEQUENCE:
            value = child.text.strip()
            if value.isdigit():
                line["line_number"] = int(value)
            sources[keys["line_number"]] = child.sourceline
        elif action == _DESCRIPTION:
            line["description"] = child.text
            sources[keys["description"]] = child.sourceline
        elif action == _ID:
            line["hs_code"] = child.text.strip()
            sources[keys["hs_code"]] = child.sourceline
        elif action == _BINDING:
            line["tariff_treatment"] = child.text.strip()
            sources[keys["tariff_treatment"]] = child.sourceline
        elif action == _CUSTOMS_VALUE:
            _cad_amount(child, line, keys, "value_for_duty", sources, checks)
        elif action == _QUANTITY:
            line["quantity"] = child.text
            line["unit"] = child.get("unitCode", "").strip()
            sources[keys["quantity"]] = sources[keys["unit"]] = child.sourceline
        elif action == _ITEM_CHARGE:
            line["invoice_amount"] = child.text
            key = keys["invoice_amount"]
            sources[key] = child.sourceline
            given = child.get("currencyID")
            if given is not None:  # against the declaration's currency, at the end
                checks.append((key, given, None))
        elif action == _COUNTRY:
            line["country_of_origin"] = child.text.strip()
            sources[keys["country_of_origin"]] = child.sourceline


def map_cad_declaration(element: etree._Element, base: str = "/DocumentMetaData/Declaration[1]") -> XmlMappingResult:
    """Map one schema-valid CAD-IN Declaration element to a Declaration: the
    walk, which records the sources as it goes and produces the findings."""
    builder, raw_version = _walk(element, base)
    declaration = _validate(builder)
    data = builder.data
    return XmlMappingResult(
        declaration,
        builder.findings,
        builder.sources,
        base,
        builder.line,
        data.get("transaction_number"),
        raw_version,
        data.get("filer_reference"),
    )


def _walk(element: etree._Element, base: str) -> tuple[_Builder, str | None]:
    """The walk: the data for pydantic, its sources and findings, and the VersionID as read.

    One pre-order walk over the elements that matter (lxml skips the others
    in C); the schema fixes the order, so the last container seen says what
    an ambiguous leaf (``ID``, ``Name``, ``CountryCode`` …) is. The lines
    (``GovernmentAgencyGoodsItem``, the last element of a GoodsShipment, the
    last element of a Declaration) are walked by ``_map_lines``."""
    b = _Builder(base, element.sourceline)
    data = b.data
    sources = b.sources
    section = _S_DECLARATION
    shipments = 0
    currency: str | None = None
    raw_version: str | None = None
    checks: _Checks = []  # reported at the end
    actions = _HEADER_ACTIONS
    for child in element.iter():
        action = actions.get(child.tag)  # None: not taken (also comments, PIs)
        if action is None:
            continue
        if action < 100:  # a section
            if action == _S_ITEM:
                _map_lines(b, child, checks)
                # after the lines, only a further GoodsShipment can follow
                shipment = child.getparent()
                following = next(shipment.itersiblings(_SHIPMENT_TAG), None) if shipment is not None else None
                if following is not None:
                    b.findings.append(_second_shipment(base, shipments + 1, following.sourceline))
                break
            if action == _S_SHIPMENT:
                shipments += 1
                if shipments > 1:
                    b.findings.append(_second_shipment(base, shipments, child.sourceline))
                    break
            elif action in _PARTY_KEYS:
                key = _PARTY_KEYS[action]
                data.setdefault(key, {})
                sources[key] = child.sourceline
            section = action
            continue
        # the header
        text = child.text
        if action == _ID:
            path = _ID_FIELDS.get(section)
            if path is not None:
                b.set(path, _token(text), child.sourceline)
        elif action == _NAME:
            path = _NAME_FIELDS.get(section)
            if path is not None:
                b.set(path, text, child.sourceline)
        elif action == _FUNCTION:
            b.set("function", _token(text), child.sourceline)
        elif action == _FUNCTIONAL_REF:
            b.set("filer_reference", _token(text), child.sourceline)
        elif action == _FEE_TYPE:
            if section == _S_DECLARATION:
                b.set("type_code", _token(text), child.sourceline)
        elif action == _VERSION:
            raw_version = _token(text)
            sources["version"] = child.sourceline
            if raw_version and raw_version.isdigit():
                data["version"] = int(raw_version)
        elif action == _REASON:
            b.set("amendment.reason_code", _token(text), child.sourceline)
        elif action == _STATEMENT:
            if text and text.strip():
                b.set("amendment.explanation", text, child.sourceline)
        elif action == _STATEMENT_TYPE:
            if _token(text) == "ADJ":  # our code for an adjustment; CHG/APC and none: a correction
                b.set("amendment.kind", "adjustment", child.sourceline)
        elif action == _CURRENCY_CODE:
            currency = _token(text)
            b.set("currency", currency, child.sourceline)
        elif action == _RATE:
            b.set("exchange_rate", text, child.sourceline)
        elif action == _RELEASED:
            _set_date(b, "release_date", text, child.sourceline)
        elif action == _ISSUED:
            if section == _S_INVOICE:
                _set_date(b, "invoice.issue_date", text, child.sourceline)
        elif action == _TOTAL:
            b.set("invoice.total_amount", text, child.sourceline)
            checks.append(("invoice.total_amount", child.get("currencyID"), None))
        elif section == _S_ADDRESS:
            if action == _CITY:
                b.set("vendor.city", text, child.sourceline)
            elif action == _COUNTRY:
                b.set("vendor.country", _token(text), child.sourceline)
            elif action == _LINE:
                b.set("vendor.street", text, child.sourceline)
            elif action == _POSTCODE:
                b.set("vendor.postcode", _token(text), child.sourceline)
    if "version" not in data:
        if raw_version is None and data.get("function") == "9":
            data["version"] = 1  # an original without VersionID is version 1
        elif raw_version is None:
            b.problem("13", f"{describe_field('version')} is missing: a change or cancellation names its version", "version")
    for path, given, expected in checks:
        wanted = expected or currency
        if given is not None and wanted is not None and given != wanted and given.strip() != wanted:
            b.problem("12", f"{describe_field(path)}: currencyID {given.strip()!r} should be {wanted!r}", path, "/@currencyID")
    return b, raw_version


def _set_date(b: _Builder, path: str, text: str | None, line: int | None) -> None:
    try:
        b.set(path, _date(text), line)
    except ValueError as problem:
        b.sources[path] = line
        b.problem("12", f"{describe_field(path)}: {problem}", path)


def _validate(b: _Builder) -> Declaration | None:
    """Build the Declaration; turn pydantic's complaints into located findings."""
    try:
        declaration = Declaration.model_validate(b.data)
    except ValidationError as error:
        for path, missing, detail in pydantic_complaints(error, b.failed):
            b.problem("13" if missing else "12", f"{describe_field(path)} {detail}", path, failed=False)
        return None
    return None if b.findings else declaration


# --- the inverse: Declaration → CAD-IN (fixtures, benchmark files, round trips) ---

def _number(value: Decimal) -> str:
    return format(value, "f")


def cadin_declaration_xml(declaration: Declaration) -> bytes:
    """One ``<Declaration>`` element (default namespace, no declaration of it:
    to be placed inside a CAD-IN ``DocumentMetaData``), as UTF-8 bytes."""
    d = declaration
    out: list[str] = ["<Declaration>", f"<FunctionCode>{d.function.value}</FunctionCode>"]
    if d.filer_reference:
        out.append(f"<FunctionalReferenceID>{_esc(d.filer_reference)}</FunctionalReferenceID>")
    out.append(f"<ID>{d.transaction_number}</ID><TypeCode>{d.type_code}</TypeCode><VersionID>{d.version:05d}</VersionID>")
    if d.amendment is not None:
        amendment = d.amendment
        adjustment = amendment.kind is AmendmentKind.ADJUSTMENT
        out.append(f"<Amendment><ChangeReasonCode>{_esc(amendment.reason_code)}</ChangeReasonCode>")
        if amendment.explanation or adjustment:
            description = f"<StatementDescription>{_esc(amendment.explanation)}</StatementDescription>" if amendment.explanation else ""
            code = "ADJ" if adjustment else "CHG"
            out.append(f"<AdditionalInformation>{description}<StatementTypeCode>{code}</StatementTypeCode></AdditionalInformation>")
        out.append("</Amendment>")
    if d.cargo_control_number:
        out.append(f"<Consignment><TransportContractDocument><ID>{d.cargo_control_number}</ID></TransportContractDocument></Consignment>")
    out.append(
        f"<CurrencyExchange><CurrencyTypeCode>{d.currency}</CurrencyTypeCode><RateNumeric>{_number(d.exchange_rate)}</RateNumeric></CurrencyExchange>"
    )
    out.append(_party_xml("Declarant", d.declarant.account, d.declarant.name))
    out.append(f"<ReleaseLocation><ID>{d.office_of_release}</ID></ReleaseLocation>")
    out.append(f"<Status><ReleaseDateTime>{d.release_date:%Y%m%d}</ReleaseDateTime></Status>")
    out.append("<GoodsShipment><SequenceNumeric>1</SequenceNumeric>")
    out.append(_party_xml("Importer", d.importer.account, d.importer.name))
    out.append(f"<Invoice><ID>{_esc(d.invoice.number)}</ID>")
    if d.invoice.issue_date:
        out.append(f"<IssueDateTime>{d.invoice.issue_date:%Y%m%d}</IssueDateTime>")
    out.append("<TypeCode>380</TypeCode>")
    if d.invoice.total_amount is not None:
        out.append(f'<TotalAmount currencyID="{d.currency}">{_number(d.invoice.total_amount)}</TotalAmount>')
    out.append("</Invoice>")
    v = d.vendor
    out.append(f"<Seller><Name>{_esc(v.name)}</Name>")
    if any((v.city, v.country, v.street, v.postcode)):
        out.append("<Address>")
        if v.city:
            out.append(f"<CityName>{_esc(v.city)}</CityName>")
        if v.country:
            out.append(f"<CountryCode>{v.country}</CountryCode>")
        if v.street:
            out.append(f"<Line>{_esc(v.street)}</Line>")
        if v.postcode:
            out.append(f"<PostcodeID>{_esc(v.postcode)}</PostcodeID>")
        out.append("</Address>")
    out.append("</Seller><GovernmentAgencyGoodsItem>")
    for line in d.lines:
        out.append(
            f"<Commodity><SequenceNumeric>{line.line_number}</SequenceNumeric>"
            f"<Description>{_esc(line.description)}</Description>"
            f"<Classification><ID>{line.hs_code}</ID><BindingTariffReferenceID>{line.tariff_treatment}</BindingTariffReferenceID></Classification>"
            f'<CustomsValueAmount currencyID="CAD">{_number(line.value_for_duty)}</CustomsValueAmount>'
            f'<GoodsMeasure><TariffQuantity unitCode="{line.unit}">{_number(line.quantity)}</TariffQuantity></GoodsMeasure>'
        )
        if line.invoice_amount is not None:
            out.append(f'<InvoiceLine><ItemChargeAmount currencyID="{d.currency}">{_number(line.invoice_amount)}</ItemChargeAmount></InvoiceLine>')
        out.append(f"<Origin><CountryCode>{line.country_of_origin}</CountryCode></Origin>")
        if line.duty_rate is not None or line.customs_duty is not None:
            out.append("<DutyTaxFee><TypeCode>CUD</TypeCode>")
            if line.duty_rate is not None:
                out.append(f"<TaxRateNumeric>{_number(line.duty_rate)}</TaxRateNumeric>")
            if line.customs_duty is not None:
                out.append(f'<Payment><TaxAssessedAmount currencyID="CAD">{_number(line.customs_duty)}</TaxAssessedAmount></Payment>')
            out.append("</DutyTaxFee>")
        if line.excise_tax is not None:
            out.append(f'<DutyTaxFee><TypeCode>EXC</TypeCode><Payment><TaxAssessedAmount currencyID="CAD">{_number(line.excise_tax)}</TaxAssessedAmount></Payment></DutyTaxFee>')
        if line.gst is not None or line.value_for_tax is not None:
            out.append("<DutyTaxFee><TypeCode>GST</TypeCode>")
            if line.value_for_tax is not None:
                out.append(
                    f'<DutyTaxFeeAssessmentBasis><AdValoremTaxBaseAmount currencyID="CAD">{_number(line.value_for_tax)}</AdValoremTaxBaseAmount></DutyTaxFeeAssessmentBasis>'
                )
            if line.gst is not None:
                out.append(f'<Payment><TaxAssessedAmount currencyID="CAD">{_number(line.gst)}</TaxAssessedAmount></Payment>')
            out.append("</DutyTaxFee>")
        out.append("</Commodity>")
    out.append("</GovernmentAgencyGoodsItem></GoodsShipment></Declaration>")
    return "".join(out).encode()


def _party_xml(tag: str, account: str, name: str | None) -> str:
    named = f"<Name>{_esc(name)}</Name>" if name else ""
    return f"<{tag}>{named}<ID>{account}</ID></{tag}>"


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cadin_head(application_reference: str, senders: list[tuple[str, str]]) -> bytes:
    """A CAD-IN file up to its first Declaration; ``CADIN_TAIL`` closes it."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<DocumentMetaData xmlns="{NAMESPACE}">'
        "<ResponsibleAgencyName>CBSA</ResponsibleAgencyName>"
        "<AgencyAssignedCustomizationCode>CAD</AgencyAssignedCustomizationCode>"
        "<AgencyAssignedCustomizationVersionCode>001</AgencyAssignedCustomizationVersionCode>"
        "<FunctionalDefinition>CAD-IN</FunctionalDefinition>"
        f"<CommunicationMetaData><ApplicationReferenceID>{application_reference}</ApplicationReferenceID>"
        + "".join(f"<Sender><ID>{sid}</ID><RoleCode>{role}</RoleCode></Sender>" for sid, role in senders)
        + "</CommunicationMetaData>\n"
    ).encode()


CADIN_TAIL = b"\n</DocumentMetaData>\n"


def cadin_document(declarations: list[Declaration], application_reference: str, senders: list[tuple[str, str]]) -> bytes:
    """A whole CAD-IN file (tests and benchmarks)."""
    head = cadin_head(application_reference, senders)
    return head + b"\n".join(cadin_declaration_xml(d) for d in declarations) + CADIN_TAIL
