"""The EDIFACT guide mechanism on CAD01: group semantics, labels, the writer,
and docs/formats generated from the guides."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from domain.declaration import Amendment, AmendmentKind
from mappings import guide_docs
from mappings.cusdec_declaration import describe_field, map_cusdec
from mappings.cusdec_guide import CAD01
from mappings.declaration_cusdec import IDENTIFIER, cusdec_segments
from mappings.edifact_walk import read_message
from parsers.edifact.model import Message, Segment
from tests.builders import declaration, with_lines


def _message(*texts: str) -> Message:
    """A CUSDEC message from segment texts like ``"DOC+380+INV-1"`` (``:`` between components)."""
    segments = [Segment("UNH", [["1"], ["CUSDEC", "D", "96B", "UN", "CAD01"]])]
    for text in texts:
        tag, *elements = text.split("+")
        segments.append(Segment(tag, [element.split(":") for element in elements]))
    segments.append(Segment("UNT", [[str(len(segments) + 1)], ["1"]]))
    return Message(
        reference="1",
        type="CUSDEC",
        version="D",
        release="96B",
        agency="UN",
        association_code="CAD01",
        segments=segments,
    )


def _body(declaration_text: str) -> list[str]:
    return declaration_text.split("'")


HEADER = (
    "BGM+929+1020700030001400001+9",
    "CST++AB",
    "LOC+22+0497",
    "DTM+271:20250115:102",
    "DOC+380+INV-1",
    "DTM+3:20250110:102",
    "NAD+IM+123456782RM0001++MAPLE",
    "NAD+DT+123026635RM0001",
    "NAD+SE+++GLOBAL",
    "MOA+39:600.00:USD",
    "CUX+2:USD:4+3:CAD:11+1.35",
)
LINE = (
    "CST+1+6109100010+2",
    "FTX+AAA+++SHIRTS",
    "LOC+27+CN",
    "MEA+AAE++NMB:120",
    "MOA+38:600.00:USD",
    "MOA+40:810.00:CAD",
)


def test_a_sound_message_reads_into_the_domain_fields() -> None:
    reading = read_message(
        CAD01, _message(*HEADER, "UNS+D", *LINE, "TAX+7+CUD+++:::18", "MOA+124:145.80", "UNS+S", "CNT+5:1")
    )
    assert reading.findings == []
    data = reading.data
    assert (data["transaction_number"], data["version"]) == ("10207000300014", 1)
    [invoice] = data["invoices"]
    assert invoice == {
        "number": "INV-1",
        "issue_date": dt.date(2025, 1, 10),
        "vendor": {"name": "GLOBAL"},
        "total_amount": Decimal("600.00"),
        "currency": "USD",
        "exchange_rate": Decimal("1.35"),
    }
    assert data["lines"][0]["customs_duty"] == Decimal("145.80")
    assert data["lines"][0]["duty_rate"] == Decimal("18")
    # positions: segment (UNH = 1), tag, element, component
    assert reading.sources["invoices[0].issue_date"] == (7, "DTM", 1, 2)
    assert reading.sources["invoices[0].currency"] == (11, "MOA", 1, 3)
    assert reading.sources["lines[0].description"] == (15, "FTX", 4, None)
    assert reading.sources["lines[0].customs_duty"] == (21, "MOA", 1, 2)


def test_a_date_after_doc_belongs_to_the_document_group() -> None:
    """SG5 is DOC, DTM: a DTM+271 after DOC is a date of the document, not the release date."""
    header = [text for text in HEADER if not text.startswith("DTM")]
    header.insert(header.index("DOC+380+INV-1") + 1, "DTM+271:20250101:102")
    reading = read_message(CAD01, _message(*header, "UNS+D", *LINE, "UNS+S"))
    assert "release_date" not in reading.data


def test_amounts_after_a_tax_belong_to_that_tax() -> None:
    """SG41 is TAX, MOA: after TAX+7+CUD, MOA+124 is the duty and MOA+38 is not the invoice amount;
    after a tax type the guide does not read, its amounts are not read either."""
    line = [*LINE[:4], "TAX+7+CUD", "MOA+124:1.00", "MOA+38:5.00:USD", "TAX+7+VAT", "MOA+124:9.00", "MOA+40:7.00:CAD"]
    reading = read_message(CAD01, _message(*HEADER, "UNS+D", *line, "UNS+S"))
    assert reading.data["lines"][0] == {
        "line_number": 1,
        "hs_code": "6109100010",
        "tariff_treatment": "2",
        "description": "SHIRTS",
        "country_of_origin": "CN",
        "unit": "NMB",
        "quantity": Decimal("120"),
        "customs_duty": Decimal("1.00"),
    }


def test_a_second_cux_is_not_read() -> None:
    """SG9 (CUX) occurs once in SG8."""
    reading = read_message(CAD01, _message(*HEADER, "CUX+2:EUR:4+3:CAD:11+9.99", "UNS+D", *LINE, "UNS+S"))
    assert reading.data["invoices"][0]["exchange_rate"] == Decimal("1.35")
    assert reading.findings == []


def test_checks_of_fixed_codes_and_of_the_currency() -> None:
    header = ["BGM+930+1020700030001400001+9" if text.startswith("BGM") else text for text in HEADER]
    header = ["CUX+2:EUR:4+3:CAD:11+1.35" if text.startswith("CUX") else text for text in header]
    line = [text.replace("810.00:CAD", "810.00:USD") for text in LINE]
    reading = read_message(CAD01, _message(*header, "UNS+D", *line, "UNS+S"))
    assert [
        (f.code, f.message, f.location.segment, f.location.element, f.location.component) for f in reading.findings
    ] == [
        ("12", "BGM C002 1001 is '930'; this guide expects 929 (goods declaration)", 2, 1, 1),
        ("12", "CUX currency 'EUR' differs from the invoice currency 'USD' in MOA+39", 12, 1, 2),
        ("12", "value for duty must be in CAD, not 'USD'", 19, 1, 3),
    ]
    assert {"invoices[0].currency", "lines[0].value_for_duty"} <= reading.failed


def test_a_bad_reference_fails_both_fields_with_the_guides_own_words() -> None:
    header = ["BGM+929+10207²0003000140+9" if text.startswith("BGM") else text for text in HEADER]
    reading = read_message(CAD01, _message(*header, "UNS+D", *LINE, "UNS+S"))
    (finding,) = reading.findings
    assert finding.message == (
        "BGM 1004 '10207²0003000140' must be 19 digits: the 14-digit transaction number and the 5-digit version"
    )
    assert {"transaction_number", "version"} <= reading.failed
    assert "transaction_number" not in reading.data


def test_segments_before_the_first_line_are_reported() -> None:
    reading = read_message(CAD01, _message(*HEADER, "UNS+D", "LOC+27+CN", *LINE, "UNS+S"))
    assert [(f.code, f.message, f.location.segment) for f in reading.findings] == [
        ("14", "LOC before the first CST of the detail section", 14)
    ]


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("release_date", "release_date (DTM+271 C507 2380)"),
        ("lines[2].hs_code", "line 3 hs_code (CST C246 #1 7361)"),
        ("invoices[1].currency", "invoice 2 currency (MOA+39 C516 6345 / CUX C504 6345)"),
        ("invoices[0].direct_shipment_date", "invoice 1 direct_shipment_date (DTM+11 C507 2380)"),
        ("lines[0].excise[1].code", "line 1 excise[1].code (TAX+1+EXC C533 5289)"),
        ("version", "version (BGM 1004 (last 5 digits))"),
        ("importer", "importer (NAD+IM)"),
        ("invoices", "invoices (DOC+380 groups (SG5), with NAD+SE and MOA+39 in the same order)"),
        ("lines", "lines (CST segment group (UNS+D … UNS+S))"),
        ("lines[0].gst", "line 1 gst (MOA+124 after TAX GST)"),
        ("type_code", "type_code (CST C246 7361 (header))"),
        ("nothing_like_it", "nothing_like_it"),
    ],
)
def test_fields_are_named_by_where_the_guide_puts_them(path: str, label: str) -> None:
    assert describe_field(path) == label


def _round_trip(d):
    segments = [
        Segment(out.tag, [e if isinstance(e, list) else [e] for e in out.elements]) for out in cusdec_segments(d)
    ]
    message = _message()
    message.segments[1:1] = segments
    return map_cusdec(message)


def test_the_writer_writes_what_the_reader_reads() -> None:
    base = declaration()
    lines = [
        line.model_copy(
            update={
                "duty_rate": Decimal("5.5"),
                "customs_duty": Decimal("1.00"),
                "excise_tax": Decimal("2.00"),
                "gst": Decimal("3.00"),
                "value_for_tax": Decimal("4.00"),
            }
        )
        for line in base.lines
    ]
    variants = [
        base,
        with_lines(base, lines, filer_reference="X-1", cargo_control_number="ABCD12345"),
        base.model_copy(
            update={
                "amendment": Amendment(
                    reason_code="R2-74-1-C11", explanation="word " * 60, kind=AmendmentKind.ADJUSTMENT
                )
            }
        ),
    ]
    for d in variants:
        result = _round_trip(d)
        assert result.findings == []
        expected = d.model_dump()
        for invoice, dumped in zip(d.invoices, expected["invoices"], strict=True):
            if invoice.total_amount is None:
                dumped["total_amount"] = sum(
                    (line.invoice_amount or Decimal(0) for line in invoice.lines), Decimal("0.00")
                )
        if d.amendment is not None and d.amendment.explanation:
            expected["amendment"]["explanation"] = " ".join(d.amendment.explanation.split())
        assert result.declaration is not None
        assert result.declaration.model_dump() == expected
    assert IDENTIFIER == ("CUSDEC", "D", "96B", "UN", "CAD01")


def test_format_pages_hold_what_the_guides_generate() -> None:
    for page in guide_docs.pages():
        text = (guide_docs.DOCS / page).read_text(encoding="utf-8")
        assert guide_docs.render(page, text) == text, f"docs/formats/{page} is stale: run python -m mappings.guide_docs"


def test_every_domain_field_of_a_declaration_has_a_place_in_the_guide() -> None:
    from domain import Declaration, DeclarationLine, Invoice, Vendor

    guided = CAD01.fields()
    for name in Declaration.model_fields:
        if name in ("invoices", "amendment", "importer", "declarant"):
            continue
        assert name in guided, name
    for name in Invoice.model_fields:
        if name not in ("vendor", "lines"):
            assert f"invoices[].{name}" in guided, name
    for name in Vendor.model_fields:
        assert f"invoices[].vendor.{name}" in guided, name
    for name in DeclarationLine.model_fields:
        assert f"lines[].{name}" in guided or f"lines[].{name}[].code" in guided, name
    assert Path(guide_docs.DOCS / "cusdec-cad.md").exists()


def test_guides_made_and_dropped_never_share_compiled_rules() -> None:
    """Plans are cached per guide object: a guide built later, perhaps at the same
    address as a dropped one, reads with its own rules."""
    import gc

    from mappings.edifact_guide import Guide, Section, SegmentRule, Value

    for qualifier in ("A", "B", "C", "D"):
        guide = Guide(("X", "D", "96B"), (Section((SegmentRule("FTX", qualifier, values=(Value("text", 4, 1),)),)),))
        reading = read_message(guide, _message(f"FTX+{qualifier}+++hello"))
        assert reading.data == {"text": "hello"}, qualifier
        del guide, reading
        gc.collect()


def test_nth_rules_fill_the_items_of_a_list_other_groups_opened_and_also_codes_select() -> None:
    """``nth``: the n-th segment of a rule fills the n-th item; ``also``: a second code selects."""
    from types import SimpleNamespace

    from mappings.edifact_guide import Guide, Section, SegmentRule, Value, write_segments

    guide = Guide(
        ("X", "D", "96B"),
        (
            Section(
                (
                    SegmentRule("DOC", "380", target="items[]", values=(Value("number", 2, 1),)),
                    SegmentRule("NAD", "SE", target="items[]", nth=True, values=(Value("name", 4, 1),)),
                    SegmentRule("TAX", "EXC", select=(2, 1), also=((1, 1, "1"),), values=(Value("code", 3, 1),)),
                    SegmentRule("TAX", "EXC", select=(2, 1), values=(Value("total", 5, 4),)),
                ),
            ),
        ),
    )
    reading = read_message(
        guide, _message("DOC+380+A", "DOC+380+B", "NAD+SE+++ALPHA", "NAD+SE+++BETA", "TAX+1+EXC+K9", "TAX+7+EXC+++:::5")
    )
    assert reading.data == {
        "items": [{"number": "A", "name": "ALPHA"}, {"number": "B", "name": "BETA"}],
        "code": "K9",
        "total": "5",
    }
    assert reading.sources["items[1].name"] == (5, "NAD", 4, 1)
    assert reading.sources["items[1]"] == (3, "DOC", None, None)  # the item is where it was opened

    root = SimpleNamespace(
        items=[SimpleNamespace(number="A", name="ALPHA"), SimpleNamespace(number="B", name="BETA")],
        code="K9",
        total="5",
    )
    written = [(s.tag, s.elements) for s in write_segments(guide, root)]
    assert written == [
        ("DOC", ["380", "A"]),
        ("DOC", ["380", "B"]),
        ("NAD", ["SE", "", "", "ALPHA"]),
        ("NAD", ["SE", "", "", "BETA"]),
        ("TAX", ["1", "EXC", "K9"]),
        ("TAX", ["", "EXC", "", "", ["", "", "", "5"]]),
    ]


def test_rules_of_one_tag_take_segments_in_the_guides_order_wherever_their_qualifiers_stand() -> None:
    """The first rule in the guide's order that takes a segment wins: a rule without a
    qualifier before a qualified one takes that qualifier's segments too, a qualified one
    takes only its own, and rules that read their qualifiers at different places are tried in turn."""
    from mappings.edifact_guide import Guide, Section, SegmentRule, Value

    def reading(*rules: SegmentRule) -> dict[str, object]:
        guide = Guide(("X", "D", "96B"), (Section(rules),))
        return read_message(guide, _message("MOA+38:1", "MOA+39:2", "MOA+40:3")).data

    qualified = SegmentRule("MOA", "38", values=(Value("first", 1, 2),))
    qualified_later = SegmentRule("MOA", "39", values=(Value("second", 1, 2),))
    anything = SegmentRule("MOA", values=(Value("other", 1, 2),))
    # in order: 38 → first, 39 → second, 40 → other
    assert reading(qualified, qualified_later, anything) == {"first": "1", "second": "2", "other": "3"}
    # the unqualified rule first takes every segment (the last one read stays)
    assert reading(anything, qualified, qualified_later) == {"other": "3"}
    # between them: 38 is the qualified rule's, 39 and 40 the unqualified one's
    assert reading(qualified, anything, qualified_later) == {"first": "1", "other": "3"}
    # a rule reading its qualifier elsewhere (the amount, 5004) sits among them
    by_amount = SegmentRule("MOA", "2", select=(1, 2), values=(Value("by_amount", 1, 1),))
    assert reading(qualified, by_amount, qualified_later) == {"first": "1", "by_amount": "39"}
