"""Our CAD-IN guide (``parsers/xml/schemas/cad-in.xsd``, a ``Declaration``), as data.

One ``Declaration`` element is one version of one CAD (``domain.Declaration``).
The rules follow the XSD's sequences element by element, the ones the domain
does not use included (they carry no field). ``mappings.xml_guide`` reads,
writes and documents declarations with it (docs/formats/cad-xml.md is
generated from it); ``mappings.cadxml_declaration`` adds what is not a field.
"""

from __future__ import annotations

from domain.declaration import AmendmentKind
from mappings.xml_guide import (
    DATE_102,
    DECIMAL,
    INTEGER,
    TEXT,
    Attribute,
    Element,
    Flag,
    Integer,
    Text,
    XmlGuide,
)

NAMESPACE = "urn:wco:datamodel:WCO:Declaration:1"

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


def _duty_tax_fee(kind: str, note: str, *children: Element) -> Element:
    """One kind of ``DutyTaxFee``, told by its ``TypeCode``; one of each kind per line."""
    return Element(
        "DutyTaxFee",
        select="TypeCode",
        occurs=3,
        repeat=1,
        note=note,
        children=(Element("TypeCode", constant=kind, status="M"), *children),
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
        _duty_tax_fee(
            "CUD",
            "customs duty; declared, CARM assesses its own",
            Element("TaxRateNumeric", "duty_rate", DECIMAL, note="percent"),
            Element(
                "DutyTaxFeeAssessmentBasis", note="not read", children=(Element("AdValoremTaxBaseAmount", status="M"),)
            ),
            Element("Payment", children=(_cad_amount("TaxAssessedAmount", "customs_duty", status="M"),)),
        ),
        _duty_tax_fee(
            "EXC",
            "excise tax",
            Element("TaxRateNumeric", note="not read"),
            Element(
                "DutyTaxFeeAssessmentBasis", note="not read", children=(Element("AdValoremTaxBaseAmount", status="M"),)
            ),
            Element("Payment", children=(_cad_amount("TaxAssessedAmount", "excise_tax", status="M"),)),
        ),
        _duty_tax_fee(
            "GST",
            "goods and services tax",
            Element("TaxRateNumeric", note="not read"),
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
                status="M",
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
                occurs=99,
                repeat=1,
                status="M",
                note="one per declaration: the domain holds one invoice; a second is an error (`35`)",
                children=(
                    Element("SequenceNumeric", constant="1"),
                    Element("ExitDateTime", note="accepted, not used"),
                    Element("ExportCountry", note="accepted, not used", children=(Element("CountryCode", status="M"),)),
                    _party("Importer", "importer", "the importer"),
                    Element(
                        "Invoice",
                        target="invoice",
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
