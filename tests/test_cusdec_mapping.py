"""CUSDEC (guide CAD01) → Declaration: fields, positions of errors, round trips."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest

from domain import DeclarationFunction
from mappings.cusdec_declaration import map_cusdec
from mappings.declaration_cusdec import IDENTIFIER, cusdec_segments
from mappings.edifact_writer import InterchangeWriter
from tests.builders import declaration
from tests.edifact_helpers import fixture_messages, messages_of


def mapped(name: str, index: int = 0):
    message, decimal = fixture_messages(name)[index]
    return map_cusdec(message, decimal)


def test_single_declaration_fields() -> None:
    result = mapped("valid/v01_single.edi")
    assert result.findings == []
    d = result.declaration
    assert d is not None
    assert (d.transaction_number, d.version, d.function) == ("10207000300014", 1, DeclarationFunction.ORIGINAL)
    assert (d.type_code, d.office_of_release, d.release_date) == ("AB", "0497", dt.date(2025, 1, 15))
    assert (d.importer.account, d.importer.name) == ("123456782RM0001", "MAPLE LEAF IMPORTS INC")
    assert d.declarant.account == "123026635RM0001"
    [invoice] = d.invoices
    vendor = invoice.vendor
    assert (vendor.name, vendor.city, vendor.postcode, vendor.country) == (
        "GLOBAL TEXTILES CO",
        "SHANGHAI",
        "200000",
        "CN",
    )
    assert (invoice.currency, invoice.exchange_rate, invoice.direct_shipment_date) == ("USD", Decimal("1.35"), None)
    assert (invoice.number, invoice.issue_date, invoice.total_amount) == (
        "INV-1",
        dt.date(2025, 1, 10),
        Decimal("600.00"),
    )
    assert d.filer_reference == "BRK-2025-1"
    line = d.lines[0]
    assert line.description == "COTTON T-SHIRTS, MEN'S"  # released apostrophe
    assert (line.hs_code, line.tariff_treatment, line.country_of_origin) == ("6109100010", "2", "CN")
    assert (line.quantity, line.unit) == (Decimal("120"), "NMB")
    assert (line.invoice_amount, line.value_for_duty, line.duty_rate) == (
        Decimal("600.00"),
        Decimal("810.00"),
        Decimal("18"),
    )
    assert (line.customs_duty, line.gst, line.value_for_tax) == (Decimal("145.80"), Decimal("47.79"), Decimal("955.80"))


def test_correction_carries_version_and_reason() -> None:
    d = mapped("valid/v04_correction.edi").declaration
    assert d is not None
    assert (d.transaction_number, d.version, d.function) == ("10207000300014", 2, DeclarationFunction.CHANGE)
    assert d.amendment is not None
    assert (d.amendment.reason_code, d.amendment.explanation) == ("R2-74-1-C11", "TARIFF TREATMENT CORRECTED TO UST")
    assert d.lines[0].tariff_treatment == "10"
    assert d.lines[0].customs_duty is None


def test_multi_line_and_multi_message() -> None:
    d = mapped("valid/v03_multi_line.edi").declaration
    assert d is not None
    assert [line.hs_code for line in d.lines] == ["6109100010", "0901210000", "8415100000", "6403990000"]
    assert d.lines[1].quantity == Decimal("250.5")
    assert [m.reference for m, _ in fixture_messages("valid/v02_multi_message.edi")] == ["1", "2", "3"]


def test_decimal_comma_from_una() -> None:
    d = mapped("valid/v05_decimal_comma.edi").declaration
    assert d is not None
    assert (d.invoices[0].exchange_rate, d.lines[0].value_for_duty) == (Decimal("1.35"), Decimal("10800.00"))


def test_latin1_names_decoded_as_unoc() -> None:
    d = mapped("valid/v08_latin1.edi").declaration
    assert d is not None
    vendor = d.invoices[0].vendor
    assert (vendor.name, vendor.city) == ("SOCIÉTÉ TEXTILE DU QUÉBEC", "MONTRÉAL")


def findings_of(name: str) -> list[tuple[str, int | None, str | None, int | None, int | None]]:
    result = mapped(name)
    return [
        (f.code, f.location.segment, f.location.tag, f.location.element, f.location.component) for f in result.findings
    ]


def test_missing_mandatory_fields_are_located() -> None:
    # UNH 1, BGM 2, CST 3, LOC 4, (no DTM+271), RFF 5, DOC 6, DTM 7, NAD 8-10, MOA 11, CUX 12, UNS 13,
    # CST 14, FTX 15, (no LOC+27), MEA 16 … ISO 9735 UCS 0096: a missing segment is reported at the
    # last segment processed before where it was due: LOC (4) for DTM+271, FTX (15) for LOC+27.
    assert findings_of("invalid/i09_missing_mandatory.edi") == [
        ("13", 4, "LOC", None, None),
        ("13", 15, "FTX", None, None),
    ]


def test_invalid_date_points_at_the_component() -> None:
    assert findings_of("invalid/i10_bad_date.edi") == [("12", 5, "DTM", 1, 2)]


def test_line_count_mismatch_is_code_29() -> None:
    # 13 header segments after UNH, UNS+D 14, the line's 11 segments 15-25, UNS+S 26, CNT 27
    assert findings_of("invalid/i13_line_count.edi") == [("29", 27, "CNT", 1, 2)]


def _roundtrip(original):
    out = io.BytesIO()
    writer = InterchangeWriter(out, sender=("A", "ZZZ"), recipient=("B", "ZZZ"), control_reference="1")
    writer.write_message("M1", IDENTIFIER, cusdec_segments(original))
    writer.close()
    [(message, decimal)] = messages_of(out.getvalue())
    return map_cusdec(message, decimal)


@pytest.mark.parametrize(
    "original",
    [
        declaration(),
        declaration(
            function="4",
            version=3,
            amendment={"reason_code": "R2-74-1-C11", "explanation": "WRONG TREATMENT: USE 10?+'", "kind": "adjustment"},
            cargo_control_number="ABCD-1234567",
            vendor={"name": "O'BRIEN + SONS: TOOLS?", "country": "IE"},
        ),
        declaration(
            lines=[
                {
                    **declaration().lines[0].model_dump(),
                    "description": "HEAVY-DUTY WATER-RESISTANT COTTON-POLYESTER T-SHIRTS WITH PRINTED LOGOS, "
                    "ASSORTED SIZES S-XXL, PACKED IN POLY-BAGS OF TWELVE FOR RETAIL DISTRIBUTION",
                }
            ]
        ),
    ],
)
def test_declaration_round_trips_through_cusdec(original) -> None:
    result = _roundtrip(original)
    assert result.findings == []
    assert result.declaration == original


def test_bad_number_is_type_error_37() -> None:
    original = declaration()
    out = io.BytesIO()
    writer = InterchangeWriter(out, sender=("A", "ZZZ"), recipient=("B", "ZZZ"), control_reference="1")
    writer.write_message("M1", IDENTIFIER, cusdec_segments(original))
    writer.close()
    data = out.getvalue().replace(b"MOA+40:810.00:CAD", b"MOA+40:8I0.00:CAD")
    [(message, decimal)] = messages_of(data)
    result = map_cusdec(message, decimal)
    assert [(f.code, f.location.tag, f.location.element, f.location.component) for f in result.findings] == [
        ("37", "MOA", 1, 2)
    ]
    assert "value_for_duty" in result.findings[0].message
