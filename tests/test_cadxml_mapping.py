"""CAD-IN XML → Declaration: the same declarations as the CUSDEC fixtures map to
equal domain objects; errors are located by XPath and line; round trips."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest

from domain import DeclarationFunction
from mappings.cadxml_declaration import XmlMappingResult, cadin_document, map_cad_declaration, xpath_of
from mappings.cusdec_declaration import map_cusdec
from parsers.xml.cad_reader import DeclarationRead, read_cad_in
from tests.builders import declaration
from tests.edifact_helpers import fixture_messages
from tests.xml_helpers import XML_FIXTURES

PAIRS = [
    ("valid/v01_single.edi", "valid/v01_single.xml"),
    ("valid/v02_multi_message.edi", "valid/v02_multi_declaration.xml"),
    ("valid/v03_multi_line.edi", "valid/v03_multi_line.xml"),
    ("valid/v04_correction.edi", "valid/v04_correction.xml"),
]


def xml_results(data: bytes) -> list[XmlMappingResult]:
    results = []
    for event in read_cad_in(io.BytesIO(data)):
        if isinstance(event, DeclarationRead):
            assert event.findings == []
            results.append(map_cad_declaration(event.element, event.xpath))
    return results


def xml_fixture(name: str) -> list[XmlMappingResult]:
    return xml_results((XML_FIXTURES / name).read_bytes())


@pytest.mark.parametrize(("edi", "xml"), PAIRS)
def test_cad_in_and_cusdec_give_equal_declarations(edi: str, xml: str) -> None:
    from_edifact = [map_cusdec(message, decimal).declaration for message, decimal in fixture_messages(edi)]
    from_xml = xml_fixture(xml)
    assert [r.findings for r in from_xml] == [[] for _ in from_xml]
    assert [r.declaration for r in from_xml] == from_edifact
    assert all(d is not None for d in from_edifact)


def test_single_declaration_fields() -> None:
    [result] = xml_fixture("valid/v01_single.xml")
    d = result.declaration
    assert d is not None
    assert (d.transaction_number, d.version, d.function, d.type_code) == (
        "10207000300014",
        1,
        DeclarationFunction.ORIGINAL,
        "AB",
    )
    assert (d.office_of_release, d.release_date, d.invoices[0].currency, d.invoices[0].exchange_rate) == (
        "0497",
        dt.date(2025, 1, 15),
        "USD",
        Decimal("1.35"),
    )
    assert (d.importer.account, d.declarant.account, d.filer_reference) == (
        "123456782RM0001",
        "123026635RM0001",
        "BRK-2025-1",
    )
    line = d.lines[0]
    assert line.description == "COTTON T-SHIRTS, MEN'S"
    assert (line.hs_code, line.tariff_treatment, line.quantity, line.unit) == ("6109100010", "2", Decimal("120"), "NMB")
    assert (line.customs_duty, line.gst, line.value_for_tax, line.duty_rate) == (
        Decimal("145.80"),
        Decimal("47.79"),
        Decimal("955.80"),
        Decimal("18"),
    )


def test_an_original_without_version_id_is_version_1() -> None:
    [result] = xml_fixture("valid/v03_multi_line.xml")
    assert result.version is None and result.declaration is not None and result.declaration.version == 1


def test_fields_are_located_by_xpath_and_line() -> None:
    [result] = xml_fixture("valid/v01_single.xml")
    location = result.locate("lines[0].hs_code")
    assert (
        location.xpath
        == "/DocumentMetaData/Declaration[1]/GoodsShipment[1]/GovernmentAgencyGoodsItem/Commodity[1]/Classification/ID"
    )
    assert location.line == 68
    assert result.locate("importer.account").xpath == "/DocumentMetaData/Declaration[1]/GoodsShipment[1]/Importer/ID"
    assert result.locate("lines[0].gst").xpath.endswith(
        "/Commodity[1]/DutyTaxFee[TypeCode='GST']/Payment/TaxAssessedAmount"
    )
    assert xpath_of("lines[3]") == "/GoodsShipment[1]/GovernmentAgencyGoodsItem/Commodity[4]"
    assert xpath_of("lines[0].unknown_field") == "/GoodsShipment[1]/GovernmentAgencyGoodsItem/Commodity[1]"


def _one(text: str, **replace: str) -> XmlMappingResult:
    data = (XML_FIXTURES / "valid" / "v01_single.xml").read_text()
    for old, new in replace.items():
        assert old in data
        data = data.replace(old, new)
    [result] = xml_results(data.encode())
    return result


def test_currency_must_match_the_invoice_currency() -> None:
    result = _one("", **{'<ItemChargeAmount currencyID="USD">': '<ItemChargeAmount currencyID="EUR">'})
    assert result.declaration is None
    [finding] = result.findings
    assert finding.code == "12"
    assert finding.location.xpath.endswith("/Commodity[1]/InvoiceLine/ItemChargeAmount/@currencyID")


def test_a_change_without_version_is_a_missing_field() -> None:
    result = _one(
        "",
        **{
            "<FunctionCode>9</FunctionCode>": "<FunctionCode>4</FunctionCode>",
            "    <VersionID>00001</VersionID>\n": "",
        },
    )
    assert [(f.code, f.location.xpath) for f in result.findings] == [
        ("13", "/DocumentMetaData/Declaration[1]/VersionID")
    ]


def test_pydantic_errors_are_located() -> None:
    # A blank description passes the XSD (xs:string, length 3) but not the domain's Text (stripped, min 1).
    result = _one("", **{"<Description>COTTON T-SHIRTS, MEN'S</Description>": "<Description>   </Description>"})
    assert result.declaration is None
    assert [(f.code, f.location.xpath) for f in result.findings] == [
        ("12", "/DocumentMetaData/Declaration[1]/GoodsShipment[1]/GovernmentAgencyGoodsItem/Commodity[1]/Description")
    ]


@pytest.mark.parametrize(
    "original",
    [
        declaration(),
        declaration(
            function="4",
            version=3,
            amendment={"reason_code": "R2-74-1-C11", "explanation": "WRONG TREATMENT: <USE 10> & MORE"},
            cargo_control_number="ABCD-1234567",
            vendor={"name": "O'BRIEN & SONS <TOOLS>", "country": "IE"},
        ),
        declaration(
            lines=[
                {
                    "line_number": 1,
                    "description": "A",
                    "hs_code": "0901210000",
                    "tariff_treatment": "2",
                    "country_of_origin": "CO",
                    "quantity": Decimal("250.5"),
                    "unit": "KGM",
                    "value_for_duty": Decimal("1350.00"),
                },
                {
                    "line_number": 2,
                    "description": "B",
                    "hs_code": "8415100000",
                    "tariff_treatment": "10",
                    "country_of_origin": "US",
                    "quantity": Decimal("4"),
                    "unit": "NMB",
                    "value_for_duty": Decimal("1620.00"),
                    "excise_tax": Decimal("162.00"),
                },
            ]
        ),
    ],
)
def test_round_trip_through_cad_in(original) -> None:
    data = cadin_document([original], "RT-1", [("123456782RM0001", "HN"), ("123026635RM0001", "AK")])
    [result] = xml_results(data)
    assert result.findings == []
    assert result.declaration == original
