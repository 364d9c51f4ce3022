"""CAD-IN ``Declaration`` element (WCO data model, cad-in.xsd) → ``Declaration``, and back.

The XML twin of ``cusdec_declaration``. The guide (``mappings.cadin_guide.CADIN``)
says which element carries which field; ``mappings.xml_guide.read_element``
walks one schema-valid Declaration subtree once against it and records, per
domain field, the source line of its element (the XPath follows from the
domain path through the guide: ``xpath_of``). Any later error that knows only a
domain path (pydantic's, a business rule's, the portal's pointer) is placed
through ``XmlMappingResult.locate``. This module adds what is not a field: a
second GoodsShipment or a second DutyTaxFee of a kind, the VersionID an
original may leave out, the currencyID checks (once the declaration's currency
is known), and the complaints of pydantic. The field table is generated into
docs/formats/cad-xml.md.

Finding codes are the ones the EDIFACT mapper uses (UN/EDIFACT 0085): ``12``
invalid value, ``13`` missing, ``35`` too many repetitions.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree
from pydantic import ValidationError

from diagnostics import Finding, Location
from diagnostics.field_paths import nearest_source, pydantic_complaints
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
    "locate",
    "map_cad_declaration",
    "xpath_of",
]

XSource = int | None
"""Where a field was read: its source line. The XPath of a field follows from
its domain path (``xpath_of``), so only the line is recorded."""


def xpath_of(path: str | None) -> str:
    """The XPath, relative to the Declaration, of a domain path:
    ``lines[2].hs_code`` → ``/GoodsShipment[1]/GovernmentAgencyGoodsItem/Commodity[3]/Classification/ID``.
    Unknown paths fall back to their nearest known parent."""
    return CADIN.xpath_of(path)


def describe_field(path: str) -> str:
    """``lines[2].hs_code`` → ``line 3 hs_code (Commodity/Classification/ID)``."""
    return CADIN.describe(path)


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


def map_cad_declaration(element: etree._Element, base: str = "/DocumentMetaData/Declaration[1]") -> XmlMappingResult:
    """Map one schema-valid CAD-IN Declaration element to a Declaration."""
    reading = read_element(CADIN, element, base)
    _report_surplus(reading, base)
    raw_version = reading.texts.get("version")
    _check_version(reading, base, raw_version)
    _check_currencies(reading, base)
    declaration = _validate(reading, base)
    data = reading.data
    return XmlMappingResult(
        declaration,
        reading.findings,
        reading.sources,
        base,
        reading.line,
        data.get("transaction_number"),
        raw_version,
        data.get("filer_reference"),
    )


def _problem(
    reading: Reading, base: str, code: str, message: str, path: str, suffix: str = "", *, failed: bool = True
) -> None:
    reading.findings.append(Finding(code, message, locate(base, reading.line, reading.sources, path, suffix)))
    if path and failed:
        reading.failed.add(path)


def _report_surplus(reading: Reading, base: str) -> None:
    """A second DutyTaxFee of a kind in a line; a second GoodsShipment (the
    first one only: the domain model holds one invoice per declaration)."""
    shipments = False
    for surplus in reading.surplus:
        rule = surplus.rule
        if rule.name == "DutyTaxFee":
            number = int(surplus.owner.partition("[")[2].rstrip("]")) + 1  # owner: lines[n-1]
            message = f"line {number} has a second DutyTaxFee of type {rule.kind}"
            _problem(reading, base, "35", message, surplus.owner, f"/DutyTaxFee[{surplus.position}]", failed=False)
        elif rule.name == "GoodsShipment" and not shipments:
            shipments = True
            reading.findings.append(
                Finding(
                    "35",
                    f"GoodsShipment {surplus.position}: this gateway takes one GoodsShipment (one invoice) per "
                    "declaration; send each invoice as its own declaration",
                    Location(xpath=f"{base}/GoodsShipment[{surplus.position}]", line=surplus.line),
                )
            )


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
    """Amounts in CAD say so; amounts in the invoice currency name the declaration's."""
    currency = reading.data.get("currency")
    for check in reading.checks:
        attribute = check.attribute
        wanted = attribute.constant or (currency if attribute.same_as == "currency" else None)
        given = check.given
        if wanted is not None and given != wanted and given.strip() != wanted:
            message = f"{describe_field(check.path)}: {attribute.name} {given.strip()!r} should be {wanted!r}"
            _problem(reading, base, "12", message, check.path, f"/@{attribute.name}")


def _validate(reading: Reading, base: str) -> Declaration | None:
    """Build the Declaration; turn pydantic's complaints into located findings."""
    try:
        declaration = Declaration.model_validate(reading.data)
    except ValidationError as error:
        for path, missing, detail in pydantic_complaints(error, reading.failed):
            _problem(reading, base, "13" if missing else "12", f"{describe_field(path)} {detail}", path, failed=False)
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
