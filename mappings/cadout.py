"""CAD-OUT (cad-out.xsd, docs/formats/cad-xml.md): the answer to a CAD-IN file.

One CAD-OUT document per CAD-IN file, holding one ``Response`` per
declaration in file order (or a single ``Response`` without a Declaration
when the file itself was refused). A Response carries the status
(``Status/NameCode``: CARM's codes, 40 for accepted and 200 for a check-only
functional acknowledgement), the errors with their validation code and
pointer (XPath and line in the CAD-IN), the warnings (the rules' and the
portal's, e.g. ``P310``) as ``AdditionalInformation`` with the same code, text
and pointer, and for an accepted declaration the assessed duties and taxes per
line and in total.

Written as a stream: responses go out one at a time, so a batch of any size
costs no memory.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from typing import BinaryIO

from lxml import etree

from domain import DeclarationOutcome, OutcomeStatus
from domain.identifiers import is_ascii_digits

NAMESPACE = "urn:wco:datamodel:WCO:Declaration:1"
_N = f"{{{NAMESPACE}}}"

# CAD-OUT status codes (Response/Status/NameCode) beyond the portal's OutcomeStatus.
FUNCTIONAL_ACKNOWLEDGEMENT = "200"
SYNTAX_ERROR = OutcomeStatus.SYNTAX_ERROR.value  # 400
SENDER_MISMATCH = OutcomeStatus.SENDER_MISMATCH.value  # 412
UNKNOWN_PARTNER = OutcomeStatus.UNKNOWN_PARTNER.value  # 415
CONNECTION_ERROR = "502"
SCHEMA_ERROR = "503"
BACKSIDE_FAILURE = "504"
INTERNAL_ERROR = "505"
STATUSES = ("200", "40", "41", "42", "400", "412", "415", "502", "503", "504", "505")

# CARM's public validation codes for the statuses above (carm-brief §3).
SENDER_MISMATCH_CODE = "69"
UNKNOWN_PARTNER_CODE = "90"


@dataclass(frozen=True)
class CadOutError:
    code: str  # ValidationCode: portal code, rule id, XSD/XML-… code or 0085 code
    description: str
    xpath: str | None = None  # Pointer/Location in the CAD-IN
    line: int | None = None  # Pointer/LineNumeric
    warning: bool = False  # written as AdditionalInformation, not Error: it rejects nothing


WARNING_STATEMENT_TYPE = "AAI"
"""``AdditionalInformation/StatementTypeCode`` of a warning: UN/EDIFACT 4451 "general information",
the qualifier of the warning's text in CUSRES (docs/decisions.md)."""


@dataclass
class CadOutResponse:
    status: str
    errors: list[CadOutError] = field(default_factory=list)
    sequence: int | None = None  # the declaration's position in the file; None: the whole file
    transaction_number: str | None = None
    version: str | None = None
    filer_reference: str | None = None
    outcome: DeclarationOutcome | None = None  # the portal's answer, when posted


def _money(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")), "f")


def _sub(parent: etree._Element, name: str, text: str | None = None, **attrib: str) -> etree._Element:
    element = etree.SubElement(parent, _N + name, attrib)
    if text is not None:
        element.text = text
    return element


def _amount(parent: etree._Element, name: str, value: Decimal, currency: str = "CAD") -> None:
    _sub(parent, name, _money(value), currencyID=currency)


def response_element(response: CadOutResponse, issued: dt.datetime) -> etree._Element:
    """One ``Response`` element; ``issued`` (the document's time) dates a response with no outcome."""
    element = etree.Element(_N + "Response", nsmap={None: NAMESPACE})
    if response.filer_reference:
        _sub(element, "FunctionalReferenceID", response.filer_reference[:35])
    # an answer the portal gave earlier (a query) keeps the time it was given: asked twice, CARM tells the same
    answered = response.outcome.received_at if response.outcome is not None else None
    _sub(element, "IssueDateTime", (answered or issued).isoformat(timespec="seconds"))
    _sub(_sub(element, "Status"), "NameCode", response.status)
    for error in response.errors:
        if not error.warning:
            node = _sub(element, "Error")
            _sub(node, "Description", (error.description or error.code)[:2000])
            _sub(node, "ValidationCode", error.code[:35])
            _pointer(node, error)
    for warning in response.errors:
        if warning.warning:
            node = _sub(element, "AdditionalInformation")
            _sub(node, "StatementCode", warning.code[:35])
            _sub(node, "StatementDescription", (warning.description or warning.code)[:2000])
            _sub(node, "StatementTypeCode", WARNING_STATEMENT_TYPE)
            _pointer(node, warning)
    if response.sequence is not None:
        declaration = _sub(element, "Declaration")
        if (
            response.transaction_number
            and len(response.transaction_number) == 14
            and is_ascii_digits(response.transaction_number)
        ):
            _sub(declaration, "ID", response.transaction_number)
        _sub(declaration, "SequenceNumeric", str(response.sequence))
        if response.version and is_ascii_digits(response.version) and len(response.version) <= 5:
            _sub(declaration, "VersionID", response.version)
        outcome = response.outcome
        if outcome is not None and outcome.status.accepted:
            _assessment(declaration, outcome)
    return element


def _pointer(parent: etree._Element, error: CadOutError) -> None:
    """An error's or warning's ``Pointer`` into the CAD-IN, when it has one."""
    if error.xpath or error.line:
        pointer = _sub(parent, "Pointer")
        if error.xpath:
            _sub(pointer, "Location", error.xpath[:512])
        if error.line and error.line > 0:
            _sub(pointer, "LineNumeric", str(error.line))


# The totals beyond duty, excise tax and GST, each written only when not zero (an answer without
# them reads as before), by the DutyTaxFee kinds of CAD-IN (docs/formats/cad-xml.md).
_MORE_TOTALS = (
    ("XCD", "total_excise_duty"),
    ("ADD", "total_anti_dumping"),
    ("CVD", "total_countervailing"),
    ("SUR", "total_surtax"),
    ("SFG", "total_safeguard"),
)


def _assessment(declaration: etree._Element, outcome: DeclarationOutcome) -> None:
    totals = [("CUD", outcome.total_duty), ("EXC", outcome.total_excise)]
    totals += [(code, getattr(outcome, name)) for code, name in _MORE_TOTALS if getattr(outcome, name)]
    totals += [("GST", outcome.total_gst), ("TOT", outcome.total_due)]
    for code, value in totals:
        fee = _sub(declaration, "DutyTaxFee")
        _sub(fee, "TypeCode", code)
        _amount(_sub(fee, "Payment"), "TaxAssessedAmount", value)
    if not outcome.lines:
        return
    item = _sub(_sub(declaration, "GoodsShipment"), "GovernmentAgencyGoodsItem")
    for line in outcome.lines:
        commodity = _sub(item, "Commodity")
        _sub(commodity, "SequenceNumeric", str(line.line_number))
        _amount(commodity, "CustomsValueAmount", line.value_for_duty)
        _fee(commodity, "CUD", line.customs_duty, base=line.value_for_duty)
        _fee(commodity, "EXC", line.excise_tax)
        if line.specific_duty:
            _fee(commodity, "SPD", line.specific_duty, rate=(line.specific_rate, line.specific_unit))
        for charge in line.excise:
            _fee(commodity, "XCD", charge.amount, code=charge.code)
        for kind, charge_code, amount in (
            ("ADD", None, line.anti_dumping_duty),
            ("CVD", None, line.countervailing_duty),
            ("SUR", line.surtax_code, line.surtax),
            ("SFG", line.safeguard_code, line.safeguard),
        ):
            if amount:
                _fee(commodity, kind, amount, code=charge_code)
        _fee(commodity, "GST", line.gst, base=line.value_for_tax, code=line.gst_status_code)


def _fee(
    commodity: etree._Element,
    kind: str,
    value: Decimal,
    *,
    base: Decimal | None = None,
    code: str | None = None,
    rate: tuple[Decimal | None, str | None] | None = None,
) -> None:
    """One ``DutyTaxFee`` of a line, its elements in the schema's order."""
    fee = _sub(commodity, "DutyTaxFee")
    _sub(fee, "TypeCode", kind)
    if code:
        _sub(fee, "DutyRegimeCode", code)
    if rate is not None and rate[0] is not None and rate[1]:
        _sub(fee, "TaxRateNumeric", format(rate[0], "f"), unitCode=rate[1])
    if base is not None:
        _amount(_sub(fee, "DutyTaxFeeAssessmentBasis"), "AdValoremTaxBaseAmount", base)
    _amount(_sub(fee, "Payment"), "TaxAssessedAmount", value)


class CadOutWriter:
    """Streams one CAD-OUT document: the header, then ``write`` per response."""

    def __init__(
        self, out: BinaryIO, *, sender_id: str, application_reference: str | None, issued: dt.datetime
    ) -> None:
        self.issued = issued
        self.count = 0
        self._stack = ExitStack()
        self._xf = self._stack.enter_context(etree.xmlfile(out, encoding="UTF-8"))
        self._xf.write_declaration()
        self._stack.enter_context(self._xf.element(_N + "DocumentMetaData", nsmap={None: NAMESPACE}))
        header = etree.Element(_N + "Header", nsmap={None: NAMESPACE})
        _sub(header, "ResponsibleAgencyName", "CBSA")
        _sub(header, "AgencyAssignedCustomizationCode", "CAD")
        _sub(header, "AgencyAssignedCustomizationVersionCode", "001")
        _sub(header, "FunctionalDefinition", "CAD-OUT")
        communication = _sub(header, "CommunicationMetaData")
        if application_reference:
            _sub(communication, "ApplicationReferenceID", application_reference[:35])
        _sub(_sub(communication, "Sender"), "ID", sender_id[:35])
        self._xf.write("\n")
        for child in header:
            self._emit(child)
            self._xf.write("\n")

    def write(self, response: CadOutResponse) -> None:
        self._emit(response_element(response, self.issued))
        self._xf.write("\n")
        self.count += 1

    def _emit(self, element: etree._Element) -> None:
        """Write an element without repeating the namespace declaration."""
        with self._xf.element(element.tag, dict(element.attrib)):
            if element.text:
                self._xf.write(element.text)
            for child in element:
                self._emit(child)

    def close(self) -> None:
        self._stack.close()


def write_cadout(
    out: BinaryIO,
    responses: Sequence[CadOutResponse],
    *,
    sender_id: str,
    application_reference: str | None,
    issued: dt.datetime,
) -> None:
    """A whole CAD-OUT document at once (tests)."""
    writer = CadOutWriter(out, sender_id=sender_id, application_reference=application_reference, issued=issued)
    for response in responses:
        writer.write(response)
    writer.close()
