"""The XML guide mechanism on CAD-IN: the guide mirrors cad-in.xsd, the reader
records where each field came from, XPaths and field names follow from the
guide, repeats told apart by a child, attribute checks, and the writer."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from lxml import etree

from domain.declaration import Amendment, AmendmentKind, Declaration
from mappings.cadin_guide import CADIN, NAMESPACE
from mappings.cadxml_declaration import (
    cadin_declaration_xml,
    cadin_document,
    describe_field,
    map_cad_declaration,
    xpath_of,
)
from mappings.xml_guide import Element, read_element, walk, write_element
from parsers.xml.secure import SCHEMA_DIR, load_schema, secure_parser
from tests.builders import declaration, with_lines
from tests.xml_helpers import XML_FIXTURES

SENDERS = [("123456782RM0001", "HN"), ("123026635RM0001", "AK")]
BASE = "/DocumentMetaData/Declaration[1]"
_XS = "{http://www.w3.org/2001/XMLSchema}"


def _declarations(data: bytes) -> list[etree._Element]:
    """The Declaration elements of a schema-valid CAD-IN file (the whole tree kept)."""
    document = etree.fromstring(data, secure_parser())
    schema = load_schema("cad-in.xsd")
    assert schema.validate(document), schema.error_log
    return list(document.iterfind(f"{{{NAMESPACE}}}Declaration"))


def _v01(**replace: str) -> etree._Element:
    text = (XML_FIXTURES / "valid" / "v01_single.xml").read_text()
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    [element] = _declarations(text.encode())
    return element


# -- the guide mirrors the schema --------------------------------------------------------------


def _xsd_sequence(schema: etree._Element, declared: etree._Element) -> list[etree._Element]:
    """The xs:element children of an element declaration's sequence (inline or named type)."""
    complex_type = declared.find(f"{_XS}complexType")
    if complex_type is None and declared.get("type"):
        complex_type = schema.find(f"{_XS}complexType[@name='{declared.get('type')}']")
    if complex_type is None:
        return []
    sequence = complex_type.find(f"{_XS}sequence")
    return [] if sequence is None else list(sequence.iterfind(f"{_XS}element"))


def _compare(schema: etree._Element, declared: etree._Element, rule: Element, where: str) -> None:
    expected = _xsd_sequence(schema, declared)
    names = [child.name for child in rule.children]
    distinct = [name for index, name in enumerate(names) if index == 0 or names[index - 1] != name]
    assert distinct == [item.get("name") for item in expected], where
    by_name = {item.get("name"): item for item in expected}
    for child in rule.children:
        item = by_name[child.name]
        mandatory = item.get("minOccurs", "1") != "0"
        assert (child.status == "M") == mandatory, f"{where}/{child.name} status"
        most = item.get("maxOccurs", "1")
        assert child.occurs == (10**9 if most == "unbounded" else int(most)), f"{where}/{child.name} occurs"
        _compare(schema, item, child, f"{where}/{child.name}")


def test_the_guide_follows_the_schemas_sequences_element_by_element() -> None:
    schema = etree.parse(str(SCHEMA_DIR / "cad-in.xsd")).getroot()
    declaration_type = schema.find(f"{_XS}complexType[@name='DeclarationType']")
    assert declaration_type is not None
    holder = etree.Element(f"{_XS}element", type="DeclarationType")
    _compare(schema, holder, CADIN.root, "Declaration")


def test_every_domain_field_of_a_declaration_has_a_place_in_the_guide() -> None:
    from domain import DeclarationLine, Invoice

    fields = CADIN.fields()
    objects = {"invoices", "invoices[].lines", "amendment", "importer", "declarant", "invoices[].vendor"}
    for name in Declaration.model_fields:
        assert name in fields, name
    for name in Invoice.model_fields:
        assert f"invoices[].{name}" in fields, name
    for name in DeclarationLine.model_fields:
        assert f"invoices[].lines[].{name}" in fields, name
    for name in ("importer", "declarant"):
        assert {f"{name}.account", f"{name}.name"} <= set(fields)
    assert objects <= set(fields)


# -- XPaths and names -------------------------------------------------------------------------

ITEM = "/GoodsShipment[1]/GovernmentAgencyGoodsItem"


@pytest.mark.parametrize(
    ("path", "xpath"),
    [
        ("version", "/VersionID"),
        ("amendment.kind", "/Amendment/AdditionalInformation/StatementTypeCode"),
        ("cargo_control_number", "/Consignment/TransportContractDocument/ID"),
        ("declarant.account", "/Declarant/ID"),
        ("importer.name", "/GoodsShipment[1]/Importer/Name"),
        ("invoices[0]", "/GoodsShipment[1]"),
        ("invoices[1].number", "/GoodsShipment[2]/Invoice/ID"),
        ("invoices[1].direct_shipment_date", "/GoodsShipment[2]/ExitDateTime"),
        ("invoices[0].vendor.street", "/GoodsShipment[1]/Seller/Address/Line"),
        ("invoices[0].lines", ITEM),
        ("invoices[1].lines[0].hs_code", "/GoodsShipment[2]/GovernmentAgencyGoodsItem/Commodity[1]/Classification/ID"),
        (
            "lines[0].excise[1].code",
            ITEM + "/Commodity[1]/DutyTaxFee[TypeCode='XCD'][2]/DutyRegimeCode",
        ),
        ("lines[3]", ITEM + "/Commodity[4]"),
        ("lines[0].unit", ITEM + "/Commodity[1]/GoodsMeasure/TariffQuantity/@unitCode"),
        ("lines[1].duty_rate", ITEM + "/Commodity[2]/DutyTaxFee[TypeCode='CUD']/TaxRateNumeric"),
        (
            "lines[0].value_for_tax",
            ITEM + "/Commodity[1]/DutyTaxFee[TypeCode='GST']/DutyTaxFeeAssessmentBasis/AdValoremTaxBaseAmount",
        ),
        ("lines[0].unknown_field", ITEM + "/Commodity[1]"),
        ("invoices[0].vendor.unknown.deeper", "/GoodsShipment[1]/Seller"),
        ("nothing_like_it", ""),
    ],
)
def test_xpaths_follow_from_the_guide(path: str, xpath: str) -> None:
    assert xpath_of(path) == xpath


def test_a_line_pointer_is_placed_under_its_invoice() -> None:
    """Rules point at lines by their place in the declaration; the XML nests them under their invoice."""
    starts = [0, 2]
    assert xpath_of("lines[1].hs_code", starts) == ITEM + "/Commodity[2]/Classification/ID"
    assert (
        xpath_of("lines[2].hs_code", starts)
        == "/GoodsShipment[2]/GovernmentAgencyGoodsItem/Commodity[1]/Classification/ID"
    )
    assert describe_field("invoices[1].lines[0].hs_code", starts) == "line 3 hs_code (Commodity/Classification/ID)"


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("version", "version (Declaration/VersionID)"),
        ("importer", "importer (GoodsShipment/Importer)"),
        ("invoices[0].lines", "invoice 1 lines (GoodsShipment/GovernmentAgencyGoodsItem)"),
        ("invoices[1].currency", "invoice 2 currency (GoodsShipment/CurrencyExchange/CurrencyTypeCode)"),
        ("lines[2].hs_code", "line 3 hs_code (Commodity/Classification/ID)"),
        ("lines[0].unit", "line 1 unit (Commodity/GoodsMeasure/TariffQuantity/@unitCode)"),
        ("lines[0].gst", "line 1 gst (Commodity/DutyTaxFee[TypeCode='GST']/Payment/TaxAssessedAmount)"),
        ("lines[0]", "lines[0]"),
        ("lines[0].nothing", "line 1 nothing"),
        ("nothing_like_it", "nothing_like_it"),
    ],
)
def test_fields_are_named_by_where_the_guide_puts_them(path: str, label: str) -> None:
    assert describe_field(path) == label


# -- reading ------------------------------------------------------------------------------------


def test_the_reader_records_the_line_of_every_field() -> None:
    reading = read_element(CADIN, _v01(), BASE)
    assert reading.findings == [] and reading.surplus == []
    # v01_single.xml: Declaration on line 21, ID on 24, Importer on 44, Commodity on 64 …
    assert reading.line == 21
    expected = {
        "transaction_number": 24,
        "version": 27,
        "currency": 29,  # Declaration/CurrencyExchange: the one-invoice shape
        "declarant": 32,
        "declarant.account": 34,
        "release_date": 40,
        "importer": 44,
        "invoices[0].total_amount": 52,
        "invoices[0].vendor.city": 57,
        "invoices[0].lines[0]": 64,
        "invoices[0].lines[0].hs_code": 68,
        "invoices[0].lines[0].quantity": 73,
        "invoices[0].lines[0].unit": 73,
        "invoices[0].lines[0].duty_rate": 83,
        "invoices[0].lines[0].value_for_tax": 91,
        "invoices[0].lines[0].gst": 94,
    }
    assert {path: reading.sources[path] for path in expected} == expected
    assert reading.texts == {"version": "00001"}
    data = reading.data
    assert (
        data["invoices"][0]["lines"][0]["quantity"] == "120" and data["invoices"][0]["lines"][0]["unit"] == "NMB"
    )  # decimals stay text
    assert data["release_date"] == dt.date(2025, 1, 15)
    assert data["version"] == 1 and data["invoices"][0]["lines"][0]["line_number"] == 1
    assert [(check.path, check.given) for check in reading.checks] == [
        ("invoices[0].total_amount", "USD"),
        ("invoices[0].lines[0].value_for_duty", "CAD"),
        ("invoices[0].lines[0].invoice_amount", "USD"),
        ("invoices[0].lines[0].customs_duty", "CAD"),
        ("invoices[0].lines[0].value_for_tax", "CAD"),
        ("invoices[0].lines[0].gst", "CAD"),
    ]


def test_tokens_collapse_whitespace_and_text_stays_as_written() -> None:
    element = _v01(
        **{
            "<ID>6109100010</ID>": "<ID>\n 6109100010 </ID>",
            "<CityName>SHANGHAI</CityName>": "<CityName> SHANG  HAI </CityName>",
            'unitCode="NMB"': 'unitCode=" NMB"',
        }
    )
    data = read_element(CADIN, element, BASE).data
    assert (
        data["invoices"][0]["lines"][0]["hs_code"] == "6109100010" and data["invoices"][0]["lines"][0]["unit"] == "NMB"
    )
    assert data["invoices"][0]["vendor"]["city"] == " SHANG  HAI "


def test_a_duty_tax_fee_is_told_by_its_type_code_and_one_of_each_kind_is_read() -> None:
    second = (
        "<DutyTaxFee><TypeCode>CUD</TypeCode><TaxRateNumeric>3</TaxRateNumeric>"
        '<Payment><TaxAssessedAmount currencyID="EUR">9.00</TaxAssessedAmount></Payment></DutyTaxFee>\n'
    )
    element = _v01(**{"</Commodity>": second + "</Commodity>"})
    reading = read_element(CADIN, element, BASE)
    line = reading.data["invoices"][0]["lines"][0]
    assert (line["duty_rate"], line["customs_duty"], line["gst"]) == ("18", "145.80", "47.79")
    [surplus] = reading.surplus
    assert (surplus.rule.kind, surplus.owner, surplus.position) == ("CUD", "invoices[0].lines[0]", 3)
    assert all(check.given != "EUR" for check in reading.checks)  # the second one is not read at all

    result = map_cad_declaration(element, BASE)
    assert [(f.code, f.message, f.location.xpath, f.location.line) for f in result.findings] == [
        ("35", "line 1 has a second DutyTaxFee of type CUD", f"{BASE}{ITEM}/Commodity[1]/DutyTaxFee[3]", 64)
    ]


def test_each_goods_shipment_is_an_invoice_of_one_importer() -> None:
    text = (XML_FIXTURES / "valid" / "v01_single.xml").read_text()
    start, end = text.index("<GoodsShipment>"), text.index("</GoodsShipment>") + len("</GoodsShipment>")
    shipment = text[start:end]
    [element] = _declarations(text.replace(shipment, f"{shipment}\n{shipment}\n{shipment}").encode())
    reading = read_element(CADIN, element, BASE)
    assert reading.surplus == [] and reading.findings == []
    assert [len(invoice["lines"]) for invoice in reading.data["invoices"]] == [1, 1, 1]
    result = map_cad_declaration(element, BASE)
    assert result.declaration is not None and result.findings == []
    assert [invoice.currency for invoice in result.declaration.invoices] == ["USD"] * 3  # from the Declaration's
    assert result.starts == [0, 1, 2]
    assert result.locate("lines[2].hs_code").xpath == (
        f"{BASE}/GoodsShipment[3]/GovernmentAgencyGoodsItem/Commodity[1]/Classification/ID"
    )
    assert result.locate("invoices[1].exchange_rate").xpath == f"{BASE}/CurrencyExchange/RateNumeric"

    other = shipment.replace("<ID>123456782RM0001</ID>", "<ID>123026635RM0001</ID>")
    [element] = _declarations(text.replace(shipment, f"{shipment}\n{other}").encode())
    result = map_cad_declaration(element, BASE)
    assert result.declaration is None
    [finding] = result.findings
    assert (finding.code, finding.location.xpath) == ("12", f"{BASE}/GoodsShipment[2]/Importer")
    assert finding.message == (
        "importer (GoodsShipment/Importer) differs from the one given before: a declaration has one importer"
    )


def test_currency_attributes_are_checked_once_the_currency_is_known() -> None:
    element = _v01(
        **{
            '<CustomsValueAmount currencyID="CAD">': '<CustomsValueAmount currencyID=" CAD ">',
            '<TotalAmount currencyID="USD">': '<TotalAmount currencyID="EUR">',
            '<TaxAssessedAmount currencyID="CAD">145.80': '<TaxAssessedAmount currencyID="USD">145.80',
        }
    )
    result = map_cad_declaration(element, BASE)
    assert result.declaration is None
    assert [(f.code, f.message, f.location.xpath, f.location.line) for f in result.findings] == [
        (
            "12",
            "invoice 1 total_amount (GoodsShipment/Invoice/TotalAmount): currencyID 'EUR' should be 'USD'",
            f"{BASE}/GoodsShipment[1]/Invoice/TotalAmount/@currencyID",
            52,
        ),
        (
            "12",
            "line 1 customs_duty (Commodity/DutyTaxFee[TypeCode='CUD']/Payment/TaxAssessedAmount): currencyID 'USD' should be 'CAD'",
            f"{BASE}{ITEM}/Commodity[1]/DutyTaxFee[TypeCode='CUD']/Payment/TaxAssessedAmount/@currencyID",
            85,
        ),
    ]


def test_a_date_that_is_not_a_calendar_date_is_placed_and_not_repeated_by_pydantic() -> None:
    result = map_cad_declaration(_v01(**{"<ReleaseDateTime>20250115": "<ReleaseDateTime>20250230"}), BASE)
    assert [(f.code, f.message, f.location.xpath, f.location.line) for f in result.findings] == [
        (
            "12",
            "release_date (Declaration/Status/ReleaseDateTime): '20250230' is not a date in the form CCYYMMDD",
            f"{BASE}/Status/ReleaseDateTime",
            40,
        )
    ]


@pytest.mark.parametrize(
    ("code", "kind", "source"),
    [
        ("ADJ", AmendmentKind.ADJUSTMENT, 29),
        ("CHG", AmendmentKind.CORRECTION, None),
        ("APC", AmendmentKind.CORRECTION, None),
    ],
)
def test_statement_type_adj_is_an_adjustment_any_other_a_correction(
    code: str, kind: AmendmentKind, source: int | None
) -> None:
    text = (XML_FIXTURES / "valid" / "v04_correction.xml").read_text()
    [element] = _declarations(text.replace("<StatementTypeCode>ADJ<", f"<StatementTypeCode>{code}<").encode())
    result = map_cad_declaration(element, BASE)
    assert result.declaration is not None and result.declaration.amendment is not None
    assert result.declaration.amendment.kind is kind
    assert result.sources.get("amendment.kind") == source


# -- writing ------------------------------------------------------------------------------------


def _written(d: Declaration) -> etree._Element:
    return etree.fromstring(cadin_declaration_xml(d))


def _texts(element: etree._Element) -> dict[str, str | None]:
    return {element.getroottree().getpath(node): node.text for node in element.iter() if not len(node)}


def test_the_writer_fixes_what_the_guide_fixes_and_leaves_out_what_carries_nothing() -> None:
    base = declaration()
    written = _texts(_written(base))
    assert "/Declaration/GoodsShipment/SequenceNumeric" not in written
    assert "/Declaration/CurrencyExchange/CurrencyTypeCode" not in written  # the one-invoice shape: read only
    assert written["/Declaration/GoodsShipment/CurrencyExchange/CurrencyTypeCode"] == "USD"
    assert written["/Declaration/GoodsShipment/Invoice/TypeCode"] == "380"
    assert written["/Declaration/VersionID"] == f"{base.version:05d}"
    assert not any("Amendment" in path or "Consignment" in path for path in written)

    correction = base.model_copy(update={"function": "4", "amendment": Amendment(reason_code="R2-74-1-C11")})
    assert "/Declaration/Amendment/AdditionalInformation/StatementTypeCode" not in _texts(_written(correction))
    explained = base.model_copy(update={"function": "4", "amendment": Amendment(reason_code="R2", explanation="WHY")})
    assert _texts(_written(explained))["/Declaration/Amendment/AdditionalInformation/StatementTypeCode"] == "CHG"
    adjusted = base.model_copy(
        update={"function": "4", "amendment": Amendment(reason_code="R2", kind=AmendmentKind.ADJUSTMENT)}
    )
    texts = _texts(_written(adjusted))
    assert texts["/Declaration/Amendment/AdditionalInformation/StatementTypeCode"] == "ADJ"
    assert "/Declaration/Amendment/AdditionalInformation/StatementDescription" not in texts

    element = _written(with_lines(base, [base.lines[0].model_copy(update={"excise_tax": Decimal("2.50")})]))
    fees = [(fee.findtext("TypeCode"), fee.findtext("Payment/TaxAssessedAmount")) for fee in element.iter("DutyTaxFee")]
    assert ("EXC", "2.50") in fees
    amount = element.find("GoodsShipment/GovernmentAgencyGoodsItem/Commodity/CustomsValueAmount")
    assert amount is not None and amount.get("currencyID") == "CAD"
    total = element.find("GoodsShipment/Invoice/TotalAmount")
    assert total is not None and (total.get("currencyID"), total.text) == (base.invoices[0].currency, "600.00")


def _round_trips(d: Declaration) -> Declaration | None:
    [element] = _declarations(cadin_document([d], "RT-1", SENDERS))
    result = map_cad_declaration(element, BASE)
    assert result.findings == []
    return result.declaration


def test_what_the_writer_writes_is_schema_valid_and_reads_back_equal() -> None:
    base = declaration()
    full_line = base.lines[0].model_copy(
        update={
            "duty_rate": Decimal("5.5"),
            "customs_duty": Decimal("1.00"),
            "excise_tax": Decimal("2.00"),
            "gst": Decimal("3.00"),
            "value_for_tax": Decimal("4.00"),
            "invoice_amount": Decimal("7.25"),
        }
    )
    variants: list[Any] = [
        base,
        with_lines(base, [full_line, full_line.model_copy(update={"line_number": 2})], filer_reference="X&<1>"),
        base.model_copy(
            update={
                "function": "4",
                "version": 12,
                "amendment": Amendment(
                    reason_code="R2-74-1-C11", explanation="A & B <C>", kind=AmendmentKind.ADJUSTMENT
                ),
                "cargo_control_number": "ABCD-12345",
            }
        ),
    ]
    for d in variants:
        assert _round_trips(d) == d


def test_write_element_builds_the_root_without_a_namespace() -> None:
    element = write_element(CADIN, declaration())
    assert element.tag == "Declaration"
    assert all(isinstance(node.tag, str) and not node.tag.startswith("{") for node in element.iter())
    assert NAMESPACE not in etree.tostring(element).decode()


def test_rules_that_read_nothing_are_not_walked() -> None:
    unread = {rule.name for _, rule in walk(CADIN.root) if not rule.reads}
    assert {
        "LanguageCode",
        "TotalGrossMassMeasure",
        "Pointer",
        "BorderTransportMeans",
        "SequenceNumeric",
        "ExportCountry",
    } <= unread
    assert "GoodsShipment" not in unread and "Commodity" not in unread


# -- pain.001 on the same mechanism ---------------------------------------------------------------

PAIN_FIXTURES = XML_FIXTURES.parent / "payments" / "pain001"
PAIN09 = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"


def _pain(text: str) -> etree._Element:
    return etree.fromstring(text.encode(), secure_parser())


def test_pain001_reading_keeps_the_message_shape_with_lines() -> None:
    from mappings.pain001_guide import pain001_guide

    root = _pain((PAIN_FIXTURES / "valid" / "v05_two_payment_infos.xml").read_text())
    reading = read_element(pain001_guide(PAIN09), root, "/Document")
    header = reading.data["initiation"]["header"]
    assert (header["message_id"], header["party_id"], header["party_name"]) == (
        "PAIN-V05",
        "BROKER01",
        "MAPLE LEAF IMPORTS INC",
    )
    infos = reading.data["initiation"]["infos"]
    assert [info["id"] for info in infos] == ["PAIN-V05-P1", "PAIN-V05-P2"]
    second = infos[1]["transactions"][0]
    assert second["instructed"] == {"text": "25.50", "currency": "CAD"}
    assert second["remittance"]["structured"][0]["account"] == "123456782RM0001"
    sources = reading.sources
    assert (
        sources["initiation.infos[1]"],
        sources["initiation.infos[1].transactions[0]"],
        sources["initiation.infos[1].transactions[0].instructed"],
    ) == (27, 35, 37)
    assert sources["initiation.infos[0].other"] == 17


def test_pain001_elements_the_message_has_once_are_read_once_and_ustrd_repeats() -> None:
    from mappings.pain001_guide import pain001_guide

    text = (PAIN_FIXTURES / "valid" / "v05_two_payment_infos.xml").read_text()
    text = text.replace("<MsgId>PAIN-V05</MsgId>", "<MsgId> PAIN-V05 </MsgId><MsgId>SECOND</MsgId>")
    text = text.replace(
        "<RmtInf><Strd>",
        "<RmtInf><Ustrd> PAY  123456782RM0001 </Ustrd><Ustrd>  </Ustrd><Ustrd>SOA 2025-01</Ustrd><Strd>",
        1,
    )
    reading = read_element(pain001_guide(PAIN09), _pain(text), "/Document")
    assert reading.data["initiation"]["header"]["message_id"] == "PAIN-V05"
    remittance = reading.data["initiation"]["infos"][0]["transactions"][0]["remittance"]
    assert remittance["unstructured"] == ["PAY  123456782RM0001", "SOA 2025-01"]
    guide = pain001_guide(PAIN09)
    assert guide.xpath_of("initiation.infos[0].transactions[0].remittance.unstructured[1]") == (
        "/CstmrCdtTrfInitn/PmtInf[1]/CdtTrfTxInf[1]/RmtInf/Ustrd[2]"
    )


def test_pain001_guide_follows_the_namespace_of_the_version() -> None:
    from mappings.pain001_guide import pain001_guide

    ten = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.10"
    assert pain001_guide(ten).namespace == ten and pain001_guide(ten) is pain001_guide(ten)
    text = (PAIN_FIXTURES / "valid" / "v05_two_payment_infos.xml").read_text()
    root = _pain(text.replace(PAIN09, ten))
    assert read_element(pain001_guide(PAIN09), root, "/Document").data == {}
    assert read_element(pain001_guide(ten), root, "/Document").data["initiation"]["header"]["message_id"] == "PAIN-V05"


def test_pain001_payments_are_placed_at_their_elements() -> None:
    from mappings.pain001_payment import map_pain001

    message = map_pain001(_pain((PAIN_FIXTURES / "valid" / "v05_two_payment_infos.xml").read_text()), PAIN09)
    assert message.findings == []
    second = message.payments[1]
    assert (second.ref, second.xpath, second.line, second.payment_information_id) == (
        "PmtInf[2]/CdtTrfTxInf[1]",
        "/Document/CstmrCdtTrfInitn/PmtInf[2]/CdtTrfTxInf[1]",
        35,
        "PAIN-V05-P2",
    )
    assert second.payment is not None and second.payment.amount == Decimal("25.50")
    assert second.locate("amount").xpath == "/Document/CstmrCdtTrfInitn/PmtInf[2]/CdtTrfTxInf[1]/Amt/InstdAmt"
    assert second.locate("amount").line == 37
    assert second.locate("remittance[0].account").xpath.endswith("/RmtInf/Strd[1]/CdtrRefInf/Ref")
