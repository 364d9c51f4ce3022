"""CAD-IN ``Declaration`` element (WCO data model, cad-in.xsd) → ``Declaration``, and back.

The XML twin of ``cusdec_declaration``. The guide (``mappings.cadin_guide.CADIN``)
says which element carries which field; ``mappings.xml_guide.read_element``
walks one schema-valid Declaration subtree once against it and records, per
domain field, the source line of its element (the XPath follows from the
domain path through the guide: ``xpath_of``). Any later error that knows only a
domain path (pydantic's, a business rule's, the portal's pointer) is placed
through ``XmlMappingResult.locate``. This module adds what is not a field: a
second DutyTaxFee of a kind, the VersionID an original may leave out, the
currency of the one-invoice shape (``Declaration/CurrencyExchange``) given to
every GoodsShipment without its own, the currencyID checks (once each
invoice's currency is known), and the complaints of pydantic.

A line is read under its invoice (``invoices[1].lines[0]``, as the XML nests
it); the business rules and the portal point at it by its place in the
declaration's ``lines`` (``lines[3]``): ``locate`` takes both, given where
each invoice's lines start (``XmlMappingResult.starts``). The field table is generated into
docs/formats/cad-xml.md.

Finding codes are the ones the EDIFACT mapper uses (UN/EDIFACT 0085): ``12``
invalid value, ``13`` missing, ``35`` too many repetitions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from lxml import etree
from pydantic import ValidationError

from diagnostics import Finding, Location
from diagnostics.field_paths import flat_line_path, line_starts, nearest_source, nested_line_path, pydantic_complaints
from domain import Declaration
from mappings.cadin_guide import CADIN, NAMESPACE
from mappings.xml_guide import Reading, read_element, write_element

__all__ = [
    "CADIN_TAIL",
    "NAMESPACE",
    "XSource",
    "XmlMappingResult",
    "cadin_declaration_xml",
    "cadin_document",
    "cadin_head",
    "describe_field",
    "domain_pointer",
    "invoice_starts",
    "locate",
    "map_cad_declaration",
    "xpath_of",
]

XSource = int | None
"""Where a field was read: its source line. The XPath of a field follows from
its domain path (``xpath_of``), so only the line is recorded."""


def xpath_of(path: str | None, starts: Sequence[int] = (0,)) -> str:
    """The XPath, relative to the Declaration, of a domain path:
    ``lines[2].hs_code`` → ``/GoodsShipment[1]/GovernmentAgencyGoodsItem/Commodity[3]/Classification/ID``
    (with one invoice; ``starts``: where each invoice's lines start in ``lines``).
    Unknown paths fall back to their nearest known parent."""
    return CADIN.xpath_of(nested_line_path(path, starts) if path else path)


def domain_pointer(location: str, starts: Sequence[int] = (0,)) -> str | None:
    """The inverse of ``xpath_of`` for CARM's ``Pointer/Location``, an XPath from the document
    (``DocumentMetaData/Declaration/GoodsShipment[1]/GovernmentAgencyGoodsItem/Commodity[2]``)
    or from the Declaration: the domain path with a line at its place in the declaration's
    ``lines`` (``lines[1]``); an element the guide does not bind is its nearest bound
    ancestor; None for the Declaration itself or a place outside it (the document header)."""
    match = re.match(r"^/?(?:DocumentMetaData/)?Declaration(?:\[\d+\])?(?=/|$)", location)
    relative = location[match.end() :] if match else location
    if match is None and location.lstrip("/").startswith("DocumentMetaData"):
        return None
    path = CADIN.path_of(relative)
    return flat_line_path(path, starts) if path else None


def describe_field(path: str, starts: Sequence[int] = (0,)) -> str:
    """``lines[2].hs_code`` or ``invoices[0].lines[2].hs_code`` → ``line 3 hs_code
    (Commodity/Classification/ID)``; ``invoices[1].currency`` → ``invoice 2 currency (…)``."""
    nested = nested_line_path(path, starts)
    flat = flat_line_path(nested, starts)
    match = re.match(r"^(lines|invoices)\[(\d+)\]\.(.+)$", flat)
    label = f"{_ITEMS[match.group(1)]} {int(match.group(2)) + 1} {match.group(3)}" if match else flat
    where = CADIN.where(nested)
    return f"{label} ({where})" if where else label


_ITEMS = {"lines": "line", "invoices": "invoice"}
_INHERITED = re.compile(r"^invoices\[\d+\]\.(currency|exchange_rate)$")
_INVOICE = re.compile(r"^invoices\[(\d+)\]")


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
    starts: list[int] = field(default_factory=lambda: [0])

    def locate(self, path: str | None) -> Location:
        return locate(self.base, self.line, self.sources, path, starts=self.starts)


def locate(
    base: str,
    line: int | None,
    sources: dict[str, XSource],
    path: str | None,
    suffix: str = "",
    starts: Sequence[int] = (0,),
) -> Location:
    """The Location of a domain path (a line's by its place in ``lines`` or under
    its invoice): its XPath, and the line of the field (or of its nearest
    recorded parent, else of the Declaration). An invoice's currency or rate
    that the one-invoice shape gave on the Declaration is placed there."""
    if path:
        path = nested_line_path(path, starts)
        if _INHERITED.match(path) and path not in sources and path.rpartition(".")[2] in sources:
            path = path.rpartition(".")[2]
    found = nearest_source(sources, path) if path else None
    return Location(xpath=base + CADIN.xpath_of(path) + suffix, line=found if found is not None else line)


def invoice_starts(declaration: Declaration | None) -> list[int]:
    """Where each invoice's lines start in the declaration's ``lines``."""
    return line_starts([len(invoice.lines) for invoice in declaration.invoices]) if declaration else [0]


def map_cad_declaration(element: etree._Element, base: str = "/DocumentMetaData/Declaration[1]") -> XmlMappingResult:
    """Map one schema-valid CAD-IN Declaration element to a Declaration."""
    reading = read_element(CADIN, element, base)
    data = reading.data
    starts = line_starts([len(invoice.get("lines", ())) for invoice in data.get("invoices", ())])
    _report_surplus(reading, base, starts)
    raw_version = reading.texts.get("version")
    _check_version(reading, base, raw_version)
    _inherit_currency(reading)
    _check_currencies(reading, base)
    declaration = _validate(reading, base, starts)
    return XmlMappingResult(
        declaration,
        reading.findings,
        reading.sources,
        base,
        reading.line,
        data.get("transaction_number"),
        raw_version,
        data.get("filer_reference"),
        starts,
    )


def _problem(
    reading: Reading, base: str, code: str, message: str, path: str, suffix: str = "", *, failed: bool = True
) -> None:
    reading.findings.append(Finding(code, message, locate(base, reading.line, reading.sources, path, suffix)))
    if path and failed:
        reading.failed.add(path)


def _report_surplus(reading: Reading, base: str, starts: Sequence[int]) -> None:
    """A second DutyTaxFee (or ChargeDeduction) of a kind in a line."""
    for surplus in reading.surplus:
        rule = surplus.rule
        select = rule.select
        line = flat_line_path(surplus.owner, starts)  # owner: invoices[k].lines[j] → lines[n-1]
        number = int(line.partition("[")[2].partition("]")[0]) + 1
        message = f"line {number} has a second {rule.name} of type {rule.kind}"
        suffix = f"/{rule.name}[{surplus.position}]" if select else ""
        _problem(reading, base, "35", message, surplus.owner, suffix, failed=False)


def _inherit_currency(reading: Reading) -> None:
    """The one-invoice shape: ``Declaration/CurrencyExchange`` gives the
    currency and rate of every GoodsShipment without its own."""
    data = reading.data
    header = {name: data.pop(name) for name in ("currency", "exchange_rate") if name in data}
    for invoice in data.get("invoices", ()):
        for name, value in header.items():
            invoice.setdefault(name, value)


def _check_version(reading: Reading, base: str, raw_version: str | None) -> None:
    """A change or cancellation names its version; an original without VersionID is version 1."""
    data = reading.data
    if "version" in data or raw_version is not None:
        return
    if data.get("function") == "9":
        data["version"] = 1
    else:
        message = f"{describe_field('version')} is missing: a change or cancellation names its version"
        _problem(reading, base, "13", message, "version")


def _check_currencies(reading: Reading, base: str) -> None:
    """Amounts in CAD say so; amounts in the invoice currency name their invoice's."""
    invoices = reading.data.get("invoices", [])
    for check in reading.checks:
        attribute = check.attribute
        wanted = attribute.constant
        if attribute.same_as == "currency":
            match = _INVOICE.match(check.path)
            wanted = invoices[int(match.group(1))].get("currency") if match else None
        given = check.given
        if wanted is not None and given != wanted and given.strip() != wanted:
            message = f"{describe_field(check.path)}: {attribute.name} {given.strip()!r} should be {wanted!r}"
            _problem(reading, base, "12", message, check.path, f"/@{attribute.name}")


def _validate(reading: Reading, base: str, starts: Sequence[int]) -> Declaration | None:
    """Build the Declaration; turn pydantic's complaints into located findings."""
    try:
        declaration = Declaration.model_validate(reading.data)
    except ValidationError as error:
        for path, missing, detail in pydantic_complaints(error, reading.failed):
            message = f"{describe_field(path, starts)} {detail}"
            _problem(reading, base, "13" if missing else "12", message, path, failed=False)
        return None
    return None if reading.findings else declaration


# --- the inverse: Declaration → CAD-IN (fixtures, benchmark files, round trips) ---


def cadin_declaration_xml(declaration: Declaration) -> bytes:
    """One ``<Declaration>`` element (default namespace, no declaration of it:
    to be placed inside a CAD-IN ``DocumentMetaData``), as UTF-8 bytes."""
    return etree.tostring(write_element(CADIN, declaration), encoding="UTF-8", xml_declaration=False)


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


def cadin_document(
    declarations: list[Declaration], application_reference: str, senders: list[tuple[str, str]]
) -> bytes:
    """A whole CAD-IN file (tests and benchmarks)."""
    head = cadin_head(application_reference, senders)
    return head + b"\n".join(cadin_declaration_xml(d) for d in declarations) + CADIN_TAIL
