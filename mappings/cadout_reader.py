"""CAD-OUT → ``DeclarationOutcome``: reading CARM's answer (the inverse of ``mappings.cadout``).

The CARM connector posts one declaration version as CAD-IN and gets one CAD-OUT
back (or several ``Response`` elements to a query by transaction number, one per
version). Each ``Response`` becomes the outcome of one version: its status
(``Status/NameCode``), its errors with their validation code and pointer (and its warnings,
``AdditionalInformation`` of statement type ``AAI``, with theirs) — the
``Pointer/Location`` XPath in the CAD-IN translated back to a domain path
(``lines[3].hs_code``), which the flows then place in the partner's file as a
segment/element or an XPath — and, for an accepted version, the assessment
(``DutyTaxFee`` totals of the Declaration and per Commodity).

Per-line excise charges come back in the totals and in each line's excise tax;
which coded charge is a duty and which a tax is reference data (duties.charges),
so a line's ``excise`` list is not rebuilt from the answer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from lxml import etree

from domain import DeclarationOutcome, OutcomeStatus
from domain.outcome import AssessedLine, PortalError
from mappings.cadout import NAMESPACE, WARNING_STATEMENT_TYPE
from mappings.cadxml_declaration import domain_pointer
from parsers.xml.secure import secure_parser

_N = f"{{{NAMESPACE}}}"
_ZERO = Decimal("0.00")

# Declaration-level DutyTaxFee/TypeCode → DeclarationOutcome total (TOT is their sum: not stored).
_TOTALS = {
    "CUD": "total_duty",
    "EXC": "total_excise",
    "XCD": "total_excise_duty",
    "ADD": "total_anti_dumping",
    "CVD": "total_countervailing",
    "SUR": "total_surtax",
    "SFG": "total_safeguard",
    "GST": "total_gst",
}


class CadOutUnreadable(ValueError):
    """The body is not a CAD-OUT document this reader understands (what and where)."""


@dataclass(frozen=True)
class CadOutAnswer:
    """One ``Response`` of a CAD-OUT: CARM's answer to one declaration version
    (``transaction_number``/``version`` None when the Response names none: a refused document)."""

    status: str
    transaction_number: str | None
    version: int | None
    errors: tuple[PortalError, ...]
    issued: dt.datetime | None
    lines: tuple[AssessedLine, ...]
    totals: dict[str, Decimal]
    warnings: tuple[PortalError, ...] = ()  # AdditionalInformation of StatementTypeCode AAI: rejects nothing

    def outcome(self, transaction_number: str, version: int, starts: tuple[int, ...] = (0,)) -> DeclarationOutcome:
        """The domain outcome of this answer for the version posted; ``starts``: where each
        invoice's lines start in the declaration's ``lines`` (pointers are placed by them).
        A status outside CARM's known codes raises ``CadOutUnreadable``."""
        try:
            status = OutcomeStatus(self.status)
        except ValueError:
            raise CadOutUnreadable(f"Response/Status/NameCode {self.status!r} is not a CARM status") from None

        def placed(found: tuple[PortalError, ...]) -> list[PortalError]:
            return [
                error.model_copy(update={"pointer": domain_pointer(error.pointer, starts)}) if error.pointer else error
                for error in found
            ]

        return DeclarationOutcome(
            transaction_number=transaction_number,
            version=version,
            status=status,
            received_at=self.issued,
            lines=list(self.lines) if status.accepted else [],
            errors=placed(self.errors),
            warnings=placed(self.warnings),
            **(self.totals if status.accepted else {}),
        )


def read_cadout(body: bytes) -> list[CadOutAnswer]:
    """Every ``Response`` of a CAD-OUT document, in order. ``CadOutUnreadable`` when the
    body is not well-formed XML, not a CAD-OUT ``DocumentMetaData``, or has no Response."""
    try:
        root = etree.fromstring(body, secure_parser())
    except etree.XMLSyntaxError as error:
        raise CadOutUnreadable(f"the answer is not well-formed XML: {error}") from None
    if root.tag != _N + "DocumentMetaData":
        raise CadOutUnreadable(f"the answer's root element is {root.tag!s}, not {{{NAMESPACE}}}DocumentMetaData")
    responses = root.findall(_N + "Response")
    if not responses:
        raise CadOutUnreadable("the CAD-OUT holds no Response")
    return [_answer(response) for response in responses]


def _answer(response: etree._Element) -> CadOutAnswer:
    status = _text(response, "Status/NameCode")
    if not status:
        raise CadOutUnreadable(f"Response on line {response.sourceline} has no Status/NameCode")
    declaration = response.find(_N + "Declaration")
    version = _text(declaration, "VersionID") if declaration is not None else None
    return CadOutAnswer(
        status=status,
        transaction_number=_text(declaration, "ID") if declaration is not None else None,
        version=int(version) if version and version.isdigit() else None,
        errors=tuple(_error(node) for node in response.findall(_N + "Error")),
        warnings=tuple(
            _warning(node)
            for node in response.findall(_N + "AdditionalInformation")
            if _text(node, "StatementTypeCode") == WARNING_STATEMENT_TYPE
        ),
        issued=_datetime(_text(response, "IssueDateTime")),
        lines=tuple(_lines(declaration)) if declaration is not None else (),
        totals=_fees(declaration) if declaration is not None else {},
    )


def _error(node: etree._Element) -> PortalError:
    code = _text(node, "ValidationCode") or "?"
    return PortalError(
        code=code, message=_text(node, "Description") or code, pointer=_text(node, "Pointer/Location") or None
    )


def _warning(node: etree._Element) -> PortalError:
    code = _text(node, "StatementCode") or "?"
    return PortalError(
        code=code, message=_text(node, "StatementDescription") or code, pointer=_text(node, "Pointer/Location") or None
    )


def _fees(parent: etree._Element) -> dict[str, Decimal]:
    """The DutyTaxFee totals of ``parent`` by DeclarationOutcome field (a kind given twice adds up)."""
    totals: dict[str, Decimal] = {}
    for fee in parent.findall(_N + "DutyTaxFee"):
        name = _TOTALS.get(_text(fee, "TypeCode") or "")
        if name is not None:
            totals[name] = totals.get(name, _ZERO) + _amount(fee, "Payment/TaxAssessedAmount")
    return totals


def _lines(declaration: etree._Element) -> list[AssessedLine]:
    lines = []
    for commodity in declaration.iterfind(f"{_N}GoodsShipment/{_N}GovernmentAgencyGoodsItem/{_N}Commodity"):
        fees = {_text(fee, "TypeCode"): fee for fee in commodity.findall(_N + "DutyTaxFee")}
        gst, specific = fees.get("GST"), fees.get("SPD")
        rate = specific.find(_N + "TaxRateNumeric") if specific is not None else None
        lines.append(
            AssessedLine(
                line_number=int(_text(commodity, "SequenceNumeric") or 0),
                value_for_duty=_amount(commodity, "CustomsValueAmount"),
                customs_duty=_fee(fees, "CUD"),
                excise_tax=_fee(fees, "EXC"),
                value_for_tax=_amount(gst, "DutyTaxFeeAssessmentBasis/AdValoremTaxBaseAmount")
                if gst is not None
                else _ZERO,
                gst=_fee(fees, "GST"),
                gst_status_code=_text(gst, "DutyRegimeCode") if gst is not None else None,
                specific_duty=_fee(fees, "SPD"),
                specific_rate=_decimal(rate.text, "TaxRateNumeric") if rate is not None and rate.text else None,
                specific_unit=rate.get("unitCode") if rate is not None else None,
                anti_dumping_duty=_fee(fees, "ADD"),
                countervailing_duty=_fee(fees, "CVD"),
                surtax=_fee(fees, "SUR"),
                surtax_code=_text(fees["SUR"], "DutyRegimeCode") if "SUR" in fees else None,
                safeguard=_fee(fees, "SFG"),
                safeguard_code=_text(fees["SFG"], "DutyRegimeCode") if "SFG" in fees else None,
            )
        )
    return lines


def _fee(fees: dict[str | None, etree._Element], kind: str) -> Decimal:
    fee = fees.get(kind)
    return _amount(fee, "Payment/TaxAssessedAmount") if fee is not None else _ZERO


def _text(parent: etree._Element, path: str) -> str | None:
    node = parent.find("/".join(_N + step for step in path.split("/")))
    return node.text.strip() if node is not None and node.text else None


def _amount(parent: etree._Element, path: str) -> Decimal:
    text = _text(parent, path)
    return _decimal(text, path) if text else _ZERO


def _decimal(text: str, where: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise CadOutUnreadable(f"{where} {text!r} is not an amount") from None


def _datetime(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise CadOutUnreadable(f"IssueDateTime {text!r} is not an ISO date-time") from None
