"""Several invoices per declaration, and the new line fields, through both formats.

fixtures/cusdec/valid/v09_two_invoices.edi and fixtures/xml/valid/v05_two_invoices.xml
hold the same CAD: invoice INV-A1 in USD (1.35, shipped 2025-01-10) with line 1,
invoice INV-B7 in EUR (1.47, the reference rate before 2025-01-13, shipped
2025-01-11) with lines 2 and 3. Hand-computed: VFD 810.00 = 600 × 1.35;
300.00 = 200 × 1.47 + 6.00 added; 588.00 = 400 × 1.47.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest

from domain import Declaration, ExciseCharge
from gateway.flows.contract import FlowOptions
from gateway.flows.dispatch import check_stream
from gateway.report import FileReport
from mappings.cusdec_declaration import MappingResult, map_cusdec
from mappings.declaration_cusdec import IDENTIFIER, cusdec_segments
from mappings.edifact_writer import InterchangeWriter
from tests.builders import declaration, with_lines
from tests.edifact_helpers import FIXTURES, fixture_messages, messages_of
from tests.test_cadxml_mapping import xml_fixture, xml_results
from tests.test_rules import EXPECTED, check_file, declaration_of, fixture_context
from validators.rules import check_declaration

EDI = "valid/v09_two_invoices.edi"
XML = "valid/v05_two_invoices.xml"


def _edifact() -> Declaration:
    [(message, decimal)] = fixture_messages(EDI)
    result = map_cusdec(message, decimal)
    assert result.findings == [] and result.declaration is not None
    return result.declaration


def _through_cusdec(d: Declaration) -> MappingResult:
    out = io.BytesIO()
    writer = InterchangeWriter(out, sender=("A", "ZZZ"), recipient=("B", "ZZZ"), control_reference="1")
    writer.write_message("M1", IDENTIFIER, cusdec_segments(d))
    writer.close()
    [(message, decimal)] = messages_of(out.getvalue())
    return map_cusdec(message, decimal)


def _through_cadin(d: Declaration) -> Declaration | None:
    from mappings.cadxml_declaration import cadin_document

    [result] = xml_results(cadin_document([d], "RT-1", [("123456782RM0001", "HN"), ("123026635RM0001", "AK")]))
    assert result.findings == []
    return result.declaration


def test_two_invoices_in_two_currencies_read_from_cusdec() -> None:
    d = _edifact()
    first, second = d.invoices
    assert (first.number, first.currency, first.exchange_rate, first.direct_shipment_date) == (
        "INV-A1",
        "USD",
        Decimal("1.35"),
        dt.date(2025, 1, 10),
    )
    assert (second.number, second.currency, second.exchange_rate, second.direct_shipment_date) == (
        "INV-B7",
        "EUR",
        Decimal("1.47"),
        dt.date(2025, 1, 11),
    )
    assert (first.vendor.name, second.vendor.name, second.vendor.country) == (
        "GLOBAL TEXTILES CO",
        "RHEIN HANDEL GMBH",
        "DE",
    )
    assert [[line.line_number for line in invoice.lines] for invoice in d.invoices] == [[1], [2, 3]]
    assert [line.line_number for line in d.lines] == [1, 2, 3]
    assert d.lines[0].surtax_indicator is False
    assert d.lines[1].value_additions == Decimal("6.00")
    assert d.lines[2].excise == [ExciseCharge(code="ACE", amount=Decimal("58.80"))]


def test_cusdec_and_cad_in_carry_the_same_two_invoice_declaration() -> None:
    [result] = xml_fixture(XML)
    assert result.findings == []
    assert result.declaration == _edifact()
    assert result.starts == [0, 1]


def test_the_two_invoice_declaration_round_trips_through_both_formats() -> None:
    d = _edifact()
    again = _through_cusdec(d)
    assert again.findings == [] and again.declaration == d
    assert _through_cadin(d) == d


def test_every_new_line_field_round_trips_through_both_formats() -> None:
    base = declaration()
    line = base.lines[0].model_copy(
        update={
            "value_additions": Decimal("12.50"),
            "value_deductions": Decimal("2.00"),
            "specific_duty_rate": Decimal("0.0525"),
            "specific_duty_unit": "KGM",
            "excise": [ExciseCharge(code="ACE1", amount=Decimal("3.00")), ExciseCharge(code="XT2")],
            "anti_dumping_duty": Decimal("40.00"),
            "countervailing_duty": Decimal("4.10"),
            "surtax_indicator": True,
            "surtax_code": "S25CN",
            "surtax": Decimal("202.50"),
            "safeguard_code": "SG1",
            "safeguard": Decimal("9.99"),
            "gst_status_code": "75",
        }
    )
    invoice = base.invoices[0].model_copy(update={"direct_shipment_date": dt.date(2025, 1, 11)})
    d = with_lines(base.model_copy(update={"invoices": [invoice]}), [line])
    result = _through_cusdec(d)
    assert result.findings == [] and result.declaration == d
    assert _through_cadin(d) == d


def test_each_invoice_is_converted_at_its_own_rate() -> None:
    d = _edifact()
    assert check_declaration(d, fixture_context()) == []  # VFD of each line at its invoice's rate
    usd_rate = d.invoices[1].model_copy(update={"exchange_rate": Decimal("1.35")})
    wrong = d.model_copy(update={"invoices": [d.invoices[0], usd_rate]})
    found = [(v.rule_id, v.pointer, v.severity.value) for v in check_declaration(wrong, fixture_context())]
    assert found == [
        ("AMT-FX", "invoices[1].exchange_rate", "error"),
        ("AMT-VFD", "lines[1].value_for_duty", "error"),  # line 2 declares an addition: it must add up
        ("AMT-VFD", "lines[2].value_for_duty", "warning"),  # line 3 declares none: may be undeclared ones
    ]
    [fx, vfd, _] = check_declaration(wrong, fixture_context())
    assert fx.message == (
        "invoice INV-B7: exchange rate 1.35 CAD per EUR differs from the reference rate 1.4700 in force on "
        "the date of direct shipment 2025-01-11 (the rate of 2024-01-01, exchange rates version 2025.1-illustrative)"
    )
    assert vfd.message == (
        "line 2: value for duty 300.00 CAD is not the invoice amount 200.00 EUR × exchange rate 1.35 = 270.00 CAD "
        "+ additions 6.00 − deductions 0.00 = 276.00 CAD"
    )


def test_a_rule_pointer_on_the_second_invoice_is_placed_in_each_format() -> None:
    """Line 3 (the second invoice's second line) numbered 4: LIN-SEQ points at ``lines[2]``."""
    options = FlowOptions(rules_context=fixture_context())
    data = (FIXTURES / "cusdec" / EDI).read_bytes().replace(b"CST+3+", b"CST+4+")
    [finding] = check_stream_bytes(data, "two.edi", options).all_errors()
    location = finding.location
    assert (finding.code, location.field, location.tag, location.segment) == (
        "LIN-SEQ",
        "lines[2].line_number",
        "CST",
        48,
    )
    text = (FIXTURES / "xml" / XML).read_bytes().replace(b"<SequenceNumeric>3<", b"<SequenceNumeric>4<")
    [finding] = check_stream_bytes(text, "two.xml", options).all_errors()
    assert (finding.code, finding.location.xpath) == (
        "LIN-SEQ",
        "/DocumentMetaData/Declaration[1]/GoodsShipment[2]/GovernmentAgencyGoodsItem/Commodity[2]/SequenceNumeric",
    )


# CUSDEC: a line names its invoice ---------------------------------------------------------------

HEAD = (
    "BGM+929+1020700030116200001+9",
    "CST++AB",
    "LOC+22+0497",
    "DTM+271:20250115:102",
    "DOC+380+INV-A1",
    "DOC+380+INV-B7",
    "NAD+IM+123456782RM0001",
    "NAD+DT+123026635RM0001",
    "NAD+SE+++A",
    "NAD+SE+++B",
    "MOA+39:1.00:USD",
    "CUX+2:USD:4+3:CAD:11+1.35",
    "MOA+39:1.00:EUR",
    "CUX+2:EUR:4+3:CAD:11+1.47",
    "UNS+D",
)


def _line(number: int, invoice: str | None) -> list[str]:
    doc = [f"DOC+380+{invoice}"] if invoice else []
    return [f"CST+{number}+6109100010+2", "FTX+AAA+++SHIRTS", "LOC+27+CN", "MEA+AAE++NMB:1", "MOA+40:1.35:CAD", *doc]


def _findings(*lines: list[str]) -> list[tuple[str, str, int | None]]:
    body = [*HEAD, *(segment for line in lines for segment in line), "UNS+S"]
    text = "UNA:+.? 'UNB+UNOC:3+A:ZZZ+B:ZZZ+250115:0930+1'UNH+1+CUSDEC:D:96B:UN:CAD01'"
    text += "".join(f"{segment}'" for segment in body) + f"UNT+{len(body) + 2}+1'UNZ+1+1'"
    [(message, decimal)] = messages_of(text.encode())
    result = map_cusdec(message, decimal)
    assert result.declaration is None
    return [(f.code, f.message, f.location.segment) for f in result.findings]


def test_with_several_invoices_a_line_names_its_own() -> None:
    assert _findings(_line(1, "INV-A1"), _line(2, None)) == [
        ("13", "line 2 names no invoice (DOC+380 in its CST group); the message has 2", 23)
    ]


def test_a_line_names_an_invoice_of_the_header() -> None:
    assert _findings(_line(1, "INV-A1"), _line(2, "INV-C")) == [
        ("12", "line 2 names invoice INV-C, which no DOC+380 of the header declares", 28)
    ]


def test_the_lines_of_an_invoice_follow_each_other() -> None:
    assert _findings(_line(1, "INV-B7"), _line(2, "INV-A1")) == [
        (
            "12",
            "line 2 of invoice INV-A1 follows the lines of a later invoice: the lines are grouped by invoice, "
            "in the order of the invoices",
            28,
        )
    ]


def test_an_invoice_no_line_names_is_reported_at_its_doc() -> None:
    body = [*HEAD, *_line(1, "INV-A1"), "UNS+S"]
    text = "UNA:+.? 'UNB+UNOC:3+A:ZZZ+B:ZZZ+250115:0930+1'UNH+1+CUSDEC:D:96B:UN:CAD01'"
    text += "".join(f"{segment}'" for segment in body) + f"UNT+{len(body) + 2}+1'UNZ+1+1'"
    [(message, decimal)] = messages_of(text.encode())
    [finding] = map_cusdec(message, decimal).findings
    assert (finding.code, finding.message, finding.location.tag, finding.location.segment) == (
        "13",
        "invoice 2 lines (CST groups naming the invoice in their DOC+380) is missing",
        "DOC",
        7,
    )


def test_invoice_numbers_are_unique_when_lines_name_them() -> None:
    head = [segment.replace("INV-B7", "INV-A1") for segment in HEAD]
    body = [*head, *_line(1, "INV-A1"), "UNS+S"]
    text = "UNA:+.? 'UNB+UNOC:3+A:ZZZ+B:ZZZ+250115:0930+1'UNH+1+CUSDEC:D:96B:UN:CAD01'"
    text += "".join(f"{segment}'" for segment in body) + f"UNT+{len(body) + 2}+1'UNZ+1+1'"
    [(message, decimal)] = messages_of(text.encode())
    [finding] = map_cusdec(message, decimal).findings
    assert (finding.code, finding.message, finding.location.segment) == (
        "12",
        "invoice number INV-A1 appears twice; lines name their invoice by number",
        7,
    )


def test_a_one_invoice_declaration_is_written_the_way_partners_files_are() -> None:
    """No DOC in the lines, no date of direct shipment when there is none: the one-invoice guide's shape."""
    tags = [(s.tag, s.elements[0]) for s in cusdec_segments(declaration())]
    assert [t for t in tags if t[0] == "DOC"] == [("DOC", "380")]
    assert ("DTM", ["11", "20250111", "102"]) not in tags


# AMT-FX and AMT-VFD: the fixtures, and the same declarations as CAD-IN ---------------------------------


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("amt-fx_pass.edi", []),
        ("amt-fx_fail.edi", [("AMT-FX", "/GoodsShipment[1]/CurrencyExchange/RateNumeric")]),
        ("amt-fxd_pass.edi", []),
        ("amt-fxd_fail.edi", [("AMT-FXD", "/GoodsShipment[1]/ExitDateTime")]),
        ("amt-vfd_pass.edi", []),
        (
            "amt-vfd_warn.edi",
            [("AMT-VFD", "/GoodsShipment[1]/GovernmentAgencyGoodsItem/Commodity[1]/CustomsValueAmount")],
        ),
        (
            "amt-vfd_fail.edi",
            [("AMT-VFD", "/GoodsShipment[1]/GovernmentAgencyGoodsItem/Commodity[1]/CustomsValueAmount")],
        ),
    ],
)
def test_rate_and_value_rules_in_both_formats(name: str, found: list[tuple[str, str]]) -> None:
    d = declaration_of(name)
    from mappings.cadxml_declaration import cadin_document

    document = cadin_document([d], "APP-1", [(d.declarant.account, "AK"), (d.importer.account, "HN")])
    options = FlowOptions(rules_context=fixture_context())
    xml = check_stream_bytes(document, "case.xml", options)
    edifact = check_file(name)
    base = "/DocumentMetaData/Declaration[1]"
    assert [(f.code, f.location.xpath) for f in xml.all_errors()] == [(c, base + x) for c, x in found]
    assert [f.code for f in edifact.all_errors()] == [c for c, _ in found]
    assert [f.severity for f in xml.all_errors()] == [f.severity for f in edifact.all_errors()]


def test_amt_fx_uses_the_date_of_direct_shipment_and_warns_without_it() -> None:
    [fx] = check_file(EXPECTED["rules"]["AMT-FX"]["fail"]).all_errors()
    assert fx.message == (
        "exchange rate 1.50 CAD per EUR differs from the reference rate 1.4700 in force on the date of direct "
        "shipment 2025-01-11 (the rate of 2024-01-01, exchange rates version 2025.1-illustrative)"
    )
    [warning] = check_file(EXPECTED["rules"]["AMT-FXD"]["fail"]).all_errors()
    assert warning.severity.value == "warning"
    assert warning.message == (
        "no date of direct shipment, and the reference rate changed between the invoice date 2025-01-10 and the "
        "release date: the exchange rate was checked against the rate on the release date 2025-01-15 (1.5000); "
        "the rate of the date of direct shipment applies (D13-2-3)"
    )
    assert check_file(EXPECTED["rules"]["AMT-FXD"]["fail"]).accepted  # partners' files keep working


def test_amt_vfd_is_a_warning_unless_the_adjustments_are_declared() -> None:
    [warning] = check_file(EXPECTED["rules"]["AMT-VFD"]["warn"]).all_errors()
    assert (warning.code, warning.severity.value) == ("AMT-VFD", "warning")
    assert "if it holds additions or deductions (Customs Act s.48), declare them" in warning.message
    [error] = check_file(EXPECTED["rules"]["AMT-VFD"]["fail"]).all_errors()
    assert (error.code, error.severity.value) == ("AMT-VFD", "error")
    assert error.message.endswith("= 810.00 CAD + additions 30.00 − deductions 0.00 = 840.00 CAD")


def check_stream_bytes(data: bytes, name: str, options: FlowOptions) -> FileReport:
    return check_stream(io.BytesIO(data), name, options)
