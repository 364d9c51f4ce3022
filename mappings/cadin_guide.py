"""Our CAD-IN guide (``parsers/xml/schemas/cad-in.xsd``, a ``Declaration``), as data.

One ``Declaration`` element is one version of one CAD (``domain.Declaration``),
one ``GoodsShipment`` one of its invoices (vendor, currency and rate, date of
direct shipment as ``ExitDateTime``, lines as ``Commodity``). A declaration
of the one-invoice shape (the currency at ``Declaration/CurrencyExchange``)
still reads: that currency is the one of every GoodsShipment that gives none.
The rules follow the XSD's sequences element by element, the ones the domain
does not use included (they carry no field). ``mappings.xml_guide`` reads,
writes and documents declarations with it (docs/formats/cad-xml.md is
generated from it); ``mappings.cadxml_declaration`` adds what is not a field.
"""

from __future__ import annotations

from typing import Any

from domain.declaration import AmendmentKind
from mappings.xml_guide import (
    DATE_102,
    DECIMAL,
    INTEGER,
    TEXT,
    TOKEN,
    Attribute,
    Codec,
    Element,
    Flag,
    Integer,
    Text,
    XmlGuide,
)

NAMESPACE = "urn:wco:datamodel:WCO:Declaration:1"


class YesNo(Codec):
    """``Y`` / ``N`` as True / False (the XSD allows nothing else)."""

    name = "Y/N"

    def read(self, text: str | None) -> Any:
        value = TOKEN.read(text)
        return None if value is None else value == "Y"

    def write(self, value: Any) -> str | None:
        return "Y" if value else "N"


_IN_CAD = Attribute("currencyID", constant="CAD", note="must be `CAD`")
_IN_INVOICE_CURRENCY = Attribute("currencyID", same_as="currency", note="must be the invoice currency")


def _cad_amount(name: str, path: str, note: str = "", status: str = "C") -> Element:
    """An amount in CAD (``AmountType``)."""
    return Element(name, path, DECIMAL, attributes=(_IN_CAD,), status=status, note=note)


def _party(name: str, target: str, note: str) -> Element:
    """``PartyType``: an optional name, the program account."""
    return Element(
        name,
        target=target,
        status="M",
        note=note,
        children=(
            Element("Name", "name", TEXT),
            Element("ID", "account", status="M", note="BN15 program account `#########RM####`"),
        ),
    )


_UNREAD = {
    "DutyRegimeCode": Element("DutyRegimeCode", note="not read"),
    "IndicatorCode": Element("IndicatorCode", note="not read"),
    "TaxRateNumeric": Element("TaxRateNumeric", note="not read"),
    "DutyTaxFeeAssessmentBasis": Element(
        "DutyTaxFeeAssessmentBasis", note="not read", children=(Element("AdValoremTaxBaseAmount", status="M"),)
    ),
    "Payment": Element("Payment", note="not read", children=(Element("TaxAssessedAmount", status="M"),)),
}
"""The children of ``DutyTaxFee`` after its TypeCode, in the XSD's order, as a kind that does not use them has them."""


def _duty_tax_fee(kind: str, note: str, *children: Element, target: str = "", repeat: int = 1) -> Element:
    """One kind of ``DutyTaxFee``, told by its ``TypeCode``; one of each kind per line
    (``repeat``), or a list of them (``target``). ``children``: the ones it reads."""
    given = {child.name: child for child in children}
    return Element(
        "DutyTaxFee",
        select="TypeCode",
        occurs=20,
        repeat=repeat,
        target=target,
        note=note,
        children=(
            Element("TypeCode", constant=kind, status="M"),
            *(given.get(name, unread) for name, unread in _UNREAD.items()),
        ),
    )


def _charge(
    kind: str, note: str, amount: str, code: str = "", *more: Element, target: str = "", repeat: int = 1
) -> Element:
    """A duty, tax or fee of the line with its code (``DutyRegimeCode``) and its amount, in CAD."""
    coded = (Element("DutyRegimeCode", code, note="the charge's code"),) if code else ()
    return _duty_tax_fee(
        kind,
        note,
        *coded,
        *more,
        Element("Payment", children=(_cad_amount("TaxAssessedAmount", amount, status="M"),)),
        target=target,
        repeat=repeat,
    )


def _adjustment(kind: str, path: str, note: str) -> Element:
    """One kind of ``CustomsValuation/ChargeDeduction``: an addition to or deduction from the price paid."""
    return Element(
        "ChargeDeduction",
        select="ChargesTypeCode",
        occurs=2,
        repeat=1,
        status="M",
        note=note,
        children=(
            Element("ChargesTypeCode", constant=kind, status="M"),
            _cad_amount("OtherChargeDeductionAmount", path, status="M"),
        ),
    )


_COMMODITY = Element(
    "Commodity",
    target="lines[]",
    label="line",
    occurs=9999,
    status="M",
    note="one per CAD line",
    children=(
        Element("SequenceNumeric", "line_number", INTEGER, status="M", note="1, 2, 3 … (`LIN-SEQ`)"),
        Element("Description", "description", TEXT, status="M"),
        Element(
            "Classification",
            status="M",
            children=(
                Element("ID", "hs_code", status="M", note="10-digit classification"),
                Element(
                    "BindingTariffReferenceID",
                    "tariff_treatment",
                    status="M",
                    note="the tariff treatment code (`2` MFN, `10` UST …): CARM's sample carries it there (brief §2, an inference)",
                ),
            ),
        ),
        _cad_amount("CustomsValueAmount", "value_for_duty", "value for duty, in CAD", status="M"),
        Element(
            "GoodsMeasure",
            status="M",
            children=(
                Element(
                    "TariffQuantity",
                    "quantity",
                    DECIMAL,
                    status="M",
                    attributes=(Attribute("unitCode", "unit", note="UN/ECE Rec. 20 code (`NMB`, `KGM` …)"),),
                ),
            ),
        ),
        Element(
            "InvoiceLine",
            children=(
                Element(
                    "ItemChargeAmount",
                    "invoice_amount",
                    DECIMAL,
                    attributes=(_IN_INVOICE_CURRENCY,),
                    status="M",
                    note="in the invoice currency",
                ),
            ),
        ),
        Element("Origin", status="M", children=(Element("CountryCode", "country_of_origin", status="M"),)),
        Element(
            "CustomsValuation",
            note="the price paid's adjustments in the value for duty (Customs Act s.48, D13-4-3)",
            children=(
                _adjustment("ADD", "value_additions", "additions: commissions, assists, royalties…"),
                _adjustment("DED", "value_deductions", "deductions: freight after direct shipment…"),
            ),
        ),
        _duty_tax_fee(
            "SPD",
            "specific customs duty",
            Element(
                "TaxRateNumeric",
                "specific_duty_rate",
                DECIMAL,
                attributes=(Attribute("unitCode", "specific_duty_unit", note="the unit of the rate"),),
                note="CAD per unit",
            ),
        ),
        _charge("XCD", "an excise duty or excise tax by its code", "amount", "code", target="excise[]", repeat=0),
        _charge("ADD", "SIMA anti-dumping duty", "anti_dumping_duty"),
        _charge("CVD", "SIMA countervailing duty", "countervailing_duty"),
        _charge(
            "SUR",
            "surtax (CSCB Bulletin 5396)",
            "surtax",
            "surtax_code",
            Element("IndicatorCode", "surtax_indicator", YesNo(), note="`Y`: a surtax order applies, `N`: none"),
        ),
        _charge("SFG", "safeguard surtax", "safeguard", "safeguard_code"),
        _duty_tax_fee(
            "CUD",
            "customs duty; declared, CARM assesses its own",
            Element("TaxRateNumeric", "duty_rate", DECIMAL, note="percent"),
            Element("Payment", children=(_cad_amount("TaxAssessedAmount", "customs_duty", status="M"),)),
        ),
        _duty_tax_fee(
            "EXC",
            "excise tax",
            Element("Payment", children=(_cad_amount("TaxAssessedAmount", "excise_tax", status="M"),)),
        ),
        _duty_tax_fee(
            "GST",
            "goods and services tax",
            Element("DutyRegimeCode", "gst_status_code", note="GST status code (D17-1-10 Appendix H)"),
            Element(
                "DutyTaxFeeAssessmentBasis",
                children=(_cad_amount("AdValoremTaxBaseAmount", "value_for_tax", "the GST base", status="M"),),
            ),
            Element("Payment", children=(_cad_amount("TaxAssessedAmount", "gst", status="M"),)),
        ),
    ),
)

CADIN = XmlGuide(
    name="CAD-IN",
    namespace=NAMESPACE,
    root=Element(
        "Declaration",
        children=(
            Element(
                "FunctionCode",
                "function",
                status="M",
                note="`9` original, `4` change (correction or adjustment), `1` cancellation",
            ),
            Element(
                "FunctionalReferenceID", "filer_reference", note="the filer's own reference; echoed in the CAD-OUT"
            ),
            Element(
                "ID", "transaction_number", status="M", note="14 digits; the check digit is a business rule (`ID-TXN`)"
            ),
            Element("LanguageCode", note="`EN`/`FR`, not used"),
            Element("TypeCode", "type_code", status="M", note="CAD type (`AB` …)"),
            Element(
                "VersionID",
                "version",
                Integer(width=5),
                keep_text=True,
                note="up to 5 digits (`00002`); M for a change or cancellation, an original without it is version 1",
            ),
            Element("TotalGrossMassMeasure", note="accepted, not used"),
            Element(
                "Amendment",
                target="amendment",
                children=(
                    Element("ChangeReasonCode", "reason_code", status="M", note="D17-2-1 reason code (`R2-74-1-C11`)"),
                    Element(
                        "AdditionalInformation",
                        children=(
                            Element("StatementDescription", "explanation", Text(blank_absent=True), note="blank: none"),
                            Element(
                                "StatementTypeCode",
                                "kind",
                                Flag("ADJ", AmendmentKind.ADJUSTMENT),
                                fallback="CHG",
                                note="`ADJ` (ours): an adjustment; `CHG`, `APC` (seen in CARM samples) or absent: a correction",
                            ),
                        ),
                    ),
                    Element(
                        "Pointer",
                        occurs=99,
                        note="CARM's pointer to the changed part: accepted, not in the domain model",
                        children=(Element("Location", status="M"),),
                    ),
                ),
            ),
            Element("BorderTransportMeans", note="accepted, not used", children=(Element("ModeCode", status="M"),)),
            Element(
                "Consignment",
                children=(
                    Element("Freight", note="accepted, not used", children=(Element("RateAmount", status="M"),)),
                    Element("TransportContractDocument", children=(Element("ID", "cargo_control_number", status="M"),)),
                ),
            ),
            Element(
                "CurrencyExchange",
                write=False,
                note="the one-invoice shape: the currency of every GoodsShipment that gives none",
                children=(
                    Element("CurrencyTypeCode", "currency", status="M", note="the invoice currency"),
                    Element("RateNumeric", "exchange_rate", DECIMAL, status="M", note="CAD per one unit of it"),
                ),
            ),
            _party("Declarant", "declarant", "the broker (or the importer filing for itself)"),
            Element(
                "ReleaseLocation",
                status="M",
                children=(Element("ID", "office_of_release", status="M", note="4-digit CBSA office"),),
            ),
            Element(
                "Status",
                status="M",
                children=(
                    Element("ReleaseDateTime", "release_date", DATE_102, status="M", note="as observed in CARM"),
                ),
            ),
            Element(
                "GoodsShipment",
                target="invoices[]",
                label="invoice",
                occurs=99,
                status="M",
                note="one per invoice",
                children=(
                    Element("SequenceNumeric", note="accepted, not used"),
                    Element(
                        "ExitDateTime",
                        "direct_shipment_date",
                        DATE_102,
                        note="the date of direct shipment (the exchange rate's date, D13-2-3)",
                    ),
                    Element("ExportCountry", note="accepted, not used", children=(Element("CountryCode", status="M"),)),
                    _party("Importer", "/importer", "the importer: the same in every GoodsShipment"),
                    Element(
                        "CurrencyExchange",
                        note="M unless `Declaration/CurrencyExchange` gives it",
                        children=(
                            Element("CurrencyTypeCode", "currency", status="M", note="the invoice currency"),
                            Element("RateNumeric", "exchange_rate", DECIMAL, status="M", note="CAD per one unit of it"),
                        ),
                    ),
                    Element(
                        "Invoice",
                        status="M",
                        children=(
                            Element("ID", "number", status="M", note="commercial invoice number"),
                            Element("IssueDateTime", "issue_date", DATE_102),
                            Element("TypeCode", constant="380", note="commercial invoice"),
                            Element(
                                "TotalAmount",
                                "total_amount",
                                DECIMAL,
                                attributes=(_IN_INVOICE_CURRENCY,),
                                note="in the invoice currency",
                            ),
                        ),
                    ),
                    Element(
                        "Seller",
                        target="vendor",
                        status="M",
                        children=(
                            Element("Name", "name", TEXT, status="M"),
                            Element(
                                "Address",
                                children=(
                                    Element("CityName", "city", TEXT),
                                    Element("CountryCode", "country", note="ISO 3166 alpha-2"),
                                    Element("Line", "street", TEXT),
                                    Element("PostcodeID", "postcode"),
                                ),
                            ),
                        ),
                    ),
                    Element("GovernmentAgencyGoodsItem", status="M", children=(_COMMODITY,)),
                ),
            ),
        ),
    ),
)
