"""Directory validation (validators/directory): our D.96B/CONTRL definitions,
the segment-table walk and the segment content checks."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import random
import string
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diagnostics import Location
from domain import AssessedLine, DeclarationOutcome, OutcomeStatus
from mappings.contrl import ContrlBuilder, MessageVerdict
from mappings.cusres import IDENTIFIER as CUSRES_IDENTIFIER
from mappings.cusres import CusresError, cusres_segments
from mappings.edifact_writer import InterchangeWriter
from parsers.edifact.model import InterchangeStart, Message, Segment
from tests.edifact_helpers import CUSDEC, fixture_messages, messages_of
from validators.directory import DirectoryValidator, default_validator, validate_message
from validators.directory.content import compile_segment, joined
from validators.directory.definitions import _expand, load_directory, parse_directory

HEADER = [
    "BGM+929+1020700300058500001+9",
    "CST++AB",
    "LOC+22+0497",
    "DTM+271:20250115:102",
    "RFF+ABE:BRK-2025-0001",
    "DOC+380+INV-88231",
    "DTM+3:20250110:102",
    "NAD+IM+123456782RM0001++MAPLE LEAF IMPORTS INC",
    "NAD+DT+123026635RM0001++NORTHERN CUSTOMS BROKERS LTD",
    "NAD+SE+++GLOBAL TEXTILES CO+12 HARBOUR ROAD+SHANGHAI++200000+CN",
    "MOA+39:600.00:USD",
    "CUX+2:USD:4+3:CAD:11+1.35",
    "UNS+D",
]
LINE = [
    "CST+1+6109100010+2",
    "FTX+AAA+++COTTON T-SHIRTS",
    "LOC+27+CN",
    "MEA+AAE++NMB:120",
    "MOA+38:600.00:USD",
    "MOA+40:810.00:CAD",
    "TAX+7+CUD+++:::18",
    "MOA+124:145.80",
]
SUMMARY = ["UNS+S", "CNT+5:1"]
BODY = HEADER + LINE + SUMMARY


def read_back(body: list[str], identifier: str = "CUSDEC:D:96B:UN:CAD01", decimal: str = ".") -> list[Message]:
    """The messages read from UNH ``body`` UNT in an interchange (segments without terminators)."""
    segments = [f"UNH+1+{identifier}", *body, f"UNT+{len(body) + 2}+1"]
    text = "\n".join(
        [f"UNA:+{decimal}? '", "UNB+UNOC:3+BROKER01:ZZZ+CARMGW:ZZZ+250115:0930+IC1'"]
        + [s + "'" for s in segments]
        + ["UNZ+1+IC1'"]
    )
    return [message for message, _ in messages_of(text.encode("latin-1"))]


def interchange(body: list[str], identifier: str = "CUSDEC:D:96B:UN:CAD01", decimal: str = ".") -> Message:
    """The one message around ``body``."""
    (message,) = read_back(body, identifier, decimal)
    return message


def findings_of(body: list[str], **kwargs: str) -> list[tuple[str, Location]]:
    decimal = kwargs.get("decimal", ".")
    message = interchange(body, **kwargs)
    return [(f.code, f.location) for f in validate_message(message, decimal)]


def at(position: int, tag: str, element: int | None = None, component: int | None = None) -> Location:
    return Location("1", position, tag, element, component)


# Definitions ------------------------------------------------------------------


def test_definitions_load_every_message_we_validate() -> None:
    directory = load_directory()
    assert set(directory.messages) == {
        ("CUSDEC", "D", "96B"),
        ("CUSRES", "D", "96B"),
        ("PAYMUL", "D", "96B"),
        ("REMADV", "D", "96B"),
        ("APERAK", "D", "96B"),
        ("CONTRL", "D", "3"),
        ("CONTRL", "4", "1"),
    }
    guide_segments = [
        "UNH",
        "UNT",
        "BGM",
        "CST",
        "LOC",
        "DTM",
        "FTX",
        "RFF",
        "DOC",
        "NAD",
        "MOA",
        "CUX",
        "UNS",
        "MEA",
        "TAX",
        "CNT",
        "GIS",
        "ERP",
        "ERC",
    ]
    others = [
        "UCI",
        "UCM",
        "UCS",
        "UCD",
        "FII",
        "PAI",
        "FCA",
        "SEQ",
        "PRC",
        "LIN",
        "DLI",
        "AJT",
        "INP",
        "GEI",
        "CTA",
        "COM",
        "PCD",
        "RTE",
        "BUS",
    ]
    assert set(guide_segments + others) <= set(directory.segments)
    assert {
        "1001",
        "1225",
        "4343",
        "3035",
        "3227",
        "2005",
        "2379",
        "5025",
        "5283",
        "5153",
        "6311",
        "4451",
        "1153",
        "6347",
        "6343",
        "0081",
        "6069",
        "7365",
        "1049",
    } <= set(directory.codes)


def test_code_ranges_expand_by_position() -> None:
    codes = load_directory().codes
    assert {"P1", "P2", "P3", "P4"} <= codes["3035"] and "P5" not in codes["3035"]
    assert {"ABC", "ABZ", "ACA", "ACZ"} <= codes["4451"] and "ABB" not in codes["4451"]
    assert codes["1225"] == frozenset(str(n) for n in range(1, 55))


@given(st.from_regex(r"\A[A-Z0-9]{1,3}\Z"), st.data())
@settings(max_examples=300, deadline=None)
def test_code_ranges_are_every_code_of_the_shape_between_the_ends(first: str, data: st.DataObject) -> None:
    """A range is every code shaped like its ends (a letter or a digit at each
    position) from FIRST to LAST in alphabetical order: here, all such codes
    filtered (the definition), against the expansion."""
    alphabets = [string.digits if c.isdigit() else string.ascii_uppercase for c in first]
    last = "".join(data.draw(st.sampled_from(alphabet)) for alphabet in alphabets)
    if first.isdigit():
        expected = [str(n) for n in range(int(first), int(last) + 1)]
    else:
        expected = [code for code in map("".join, itertools.product(*alphabets)) if first <= code <= last]
    assert _expand(first, last) == expected


def test_code_ranges_of_other_shapes_are_refused() -> None:
    for first, last in [("AB", "A"), ("A1", "12"), ("a", "z"), ("Ä", "Z")]:
        with pytest.raises(ValueError):
            _expand(first, last)


def test_a_malformed_definition_names_its_file_and_line() -> None:
    texts = {
        "elements": "1004 an..35 Document number\n1001 x..3 Bad\n",
        "composites": "",
        "segments": "",
        "messages": "",
        "codes": "",
    }
    with pytest.raises(ValueError, match=r"elements\.def line 2"):
        parse_directory(texts)


# Valid input passes -------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.name for p in (CUSDEC / "valid").glob("*.edi")))
def test_valid_fixtures_have_no_findings(name: str) -> None:
    for message, decimal in fixture_messages(f"valid/{name}"):
        assert validate_message(message, decimal) == []


def test_the_guide_example_passes() -> None:
    assert findings_of(BODY) == []


def test_cusres_we_write_passes() -> None:
    outcome = DeclarationOutcome(
        transaction_number="10207003000585",
        version=1,
        status=OutcomeStatus.ACCEPTED,
        lines=[
            AssessedLine(
                line_number=1,
                value_for_duty=Decimal("810.00"),
                customs_duty=Decimal("145.80"),
                excise_tax=Decimal("0.00"),
                value_for_tax=Decimal("955.80"),
                gst=Decimal("47.79"),
            )
        ],
        total_duty=Decimal("145.80"),
        total_gst=Decimal("47.79"),
    )
    errors = [CusresError("ID-TXN", "transaction number check digit is wrong", "transaction_number", "BGM 2.1", 1)]
    out = io.BytesIO()
    writer = InterchangeWriter(out, sender=("CARMGW", "ZZZ"), recipient=("BROKER01", "ZZZ"), control_reference="R1")
    for reference, status, found in (("1", OutcomeStatus.ACCEPTED, []), ("2", OutcomeStatus.REJECTED, errors)):
        writer.write_message(
            reference,
            CUSRES_IDENTIFIER,
            cusres_segments(
                reference="1020700300058500001",
                status=status,
                inbound_interchange="IC1",
                inbound_message=reference,
                filer_reference="BRK-1",
                outcome=outcome,
                errors=found,
                issued=dt.datetime(2025, 1, 15, 9, 30),
            ),
        )
    writer.close()
    messages = messages_of(out.getvalue())
    assert len(messages) == 2
    for message, decimal in messages:
        assert validate_message(message, decimal) == []


@pytest.mark.parametrize("syntax", ["3", "4"])
def test_contrl_we_write_passes(syntax: str) -> None:
    inbound = next(e.header for e in _events(f"UNB+UNOC:{syntax}+BROKER01:ZZZ+CARMGW:ZZZ+250115:0930+IC1'"))
    builder = ContrlBuilder(inbound)
    builder.add(MessageVerdict("1", ("CUSDEC", "D", "96B", "UN"), True))
    bad = validate_message(interchange(["BGM+999+1+9", *BODY[1:]]))
    builder.add(MessageVerdict("2", ("CUSDEC", "D", "96B", "UN"), False, bad))
    out = io.BytesIO()
    builder.write(out, our_id=("CARMGW", "ZZZ"), control_reference="C1", interchange_findings=[])
    ((message, decimal),) = messages_of(out.getvalue())
    assert (message.type, message.version) == ("CONTRL", "D" if syntax == "3" else "4")
    assert [s.tag for s in message.segments] == ["UNH", "UCI", "UCM", "UCM", "UCS", "UCD", "UNT"]
    assert validate_message(message, decimal) == []


def _events(unb: str) -> list[InterchangeStart]:
    from parsers.edifact.reader import read_edifact

    data = f"{unb}UNH+1+CUSDEC:D:96B:UN'UNT+2+1'UNZ+1+IC1'".encode()
    return [e for e in read_edifact(io.BytesIO(data)) if isinstance(e, InterchangeStart)]


def test_unsupported_messages_return_nothing() -> None:
    assert findings_of(["BGM+929+1+9"], identifier="CUSDEC:D:95B:UN") == []
    assert findings_of(["BGM+1"], identifier="INVOIC:D:96A:UN") == []
    assert not default_validator().supports("INVOIC", "D", "96A")


# One failing input per finding kind ----------------------------------------------------


def test_segment_not_allowed_here_is_15_with_what_was_expected() -> None:
    message = interchange([*BODY, "GIS+40"])
    (finding,) = validate_message(message)
    assert (finding.code, finding.location) == ("15", at(25, "GIS"))
    assert finding.message == "segment GIS is not allowed here: expected one of CNT, TAX, AUT, UNT after CNT"


def test_unknown_tag_is_15() -> None:
    (finding,) = validate_message(interchange([*HEADER[:2], "ZZZ+1", *HEADER[2:], *LINE, *SUMMARY]))
    assert (finding.code, finding.location) == ("15", at(4, "ZZZ"))
    assert finding.message == "segment ZZZ is not part of the CUSDEC D.96B message"


def test_missing_mandatory_segment_is_13_at_the_last_segment_before_it() -> None:
    # ISO 9735 UCS 0096: the last segment processed before where UNS+S was due
    # (the line's last MOA, segment 22; CNT follows at 23).
    body = [s for s in BODY if s != "UNS+S"]
    message = interchange(body)
    (finding,) = validate_message(message)
    assert (finding.code, finding.location) == ("13", at(22, "MOA"))
    assert finding.message == "mandatory segment UNS missing before CNT"


def test_missing_mandatory_group_is_13_at_the_last_segment_before_unt() -> None:
    found = findings_of(["BGM+452+PAY1+9", "DTM+137:20250115:102"], identifier="PAYMUL:D:96B:UN")
    assert found == [("13", at(3, "DTM"))]


def test_too_many_segment_repetitions_is_35() -> None:
    assert findings_of([HEADER[0], "CST++AB", *HEADER[1:], *LINE, *SUMMARY]) == [("35", at(4, "CST"))]


def test_too_many_group_repetitions_is_36() -> None:
    body = [*HEADER[:10], "TOD+1", "TOD+1", *HEADER[10:], *LINE, *SUMMARY]
    assert findings_of(body) == [("36", at(13, "TOD"))]


def test_too_many_data_elements_is_16() -> None:
    assert findings_of(["BGM+929+1020700300058500001+9+AP+X", *BODY[1:]]) == [("16", at(2, "BGM", 5))]


def test_too_many_components_is_16() -> None:
    body = [*BODY[:3], "DTM+271:20250115:102:X", *BODY[4:]]
    assert findings_of(body) == [("16", at(5, "DTM", 1, 4))]


def test_missing_mandatory_element_is_13() -> None:
    assert findings_of([*BODY[:2], "LOC++0497", *BODY[3:]]) == [("13", at(4, "LOC", 1))]


def test_missing_mandatory_component_is_13() -> None:
    body = [*HEADER[:10], "MOA+:600.00:USD", *HEADER[11:], *LINE, *SUMMARY]
    assert findings_of(body) == [("13", at(12, "MOA", 1, 1))]


def test_letters_in_a_numeric_element_are_37() -> None:
    body = [*HEADER[:10], "MOA+39:6O0.00:USD", *HEADER[11:], *LINE, *SUMMARY]
    assert findings_of(body) == [("37", at(12, "MOA", 1, 2))]


def test_too_long_is_39_with_a_readable_message() -> None:
    message = interchange(["BGM+929+" + "1" * 36 + "+9", *BODY[1:]])
    (finding,) = validate_message(message)
    assert (finding.code, finding.location) == ("39", at(2, "BGM", 2, 1))
    assert (
        finding.message == "BGM element 2.1 (C106/1004): '11111111111111111111…' is 36 characters, at most 35 allowed"
    )


def test_numeric_length_ignores_the_decimal_mark_and_minus() -> None:
    body = [*HEADER[:10], "MOA+39:-" + "1" * 16 + ".00:USD", *HEADER[11:], *LINE, *SUMMARY]
    assert findings_of(body) == []
    body = [*HEADER[:10], "MOA+39:" + "1" * 17 + ".00:USD", *HEADER[11:], *LINE, *SUMMARY]
    assert findings_of(body) == [("39", at(12, "MOA", 1, 2))]


def test_too_short_is_40() -> None:
    texts = {
        "elements": "0062 an..14 Reference\n0065 an..6 Type\n0052 an..3 V\n0054 an..3 R\n0051 an..3 A\n"
        "0074 n..6 Count\n3207 an3 Country\n",
        "composites": "S009 0065 0052 0054 0051\n",
        "segments": "UNH 0062 S009\nUNT 0074 0062\nCTY 3207\n",
        "messages": "message TEST D 96B\nUNH M 1\nCTY M 1\nUNT M 1\n",
        "codes": "",
    }
    validator = DirectoryValidator(parse_directory(texts))
    (finding,) = validator.validate(interchange(["CTY+CA"], identifier="TEST:D:96B:UN"))
    assert (finding.code, finding.location) == ("40", at(2, "CTY", 1))
    assert finding.message == "CTY element 1 (3207): 'CA' is 2 characters, at least 3 required"


def test_other_decimal_mark_is_19() -> None:
    body = [*HEADER[:10], "MOA+39:600,00:USD", *HEADER[11:], *LINE, *SUMMARY]
    assert findings_of(body) == [("19", at(12, "MOA", 1, 2))]
    assert findings_of([*HEADER[:10], "MOA+39:600.00:USD", *HEADER[11:], *LINE, *SUMMARY], decimal=",") == [
        ("19", at(12, "MOA", 1, 2)),
        ("19", at(13, "CUX", 3)),
        ("19", at(19, "MOA", 1, 2)),
        ("19", at(20, "MOA", 1, 2)),
        ("19", at(22, "MOA", 1, 2)),
    ]


def test_no_digit_before_the_decimal_mark_is_38() -> None:
    body = [*HEADER[:10], "MOA+39:.50:USD", *HEADER[11:], *LINE, *SUMMARY]
    assert findings_of(body) == [("38", at(12, "MOA", 1, 2))]


def test_value_not_in_the_code_list_is_12() -> None:
    assert findings_of(["BGM+999+1020700300058500001+9", *BODY[1:]]) == [("12", at(2, "BGM", 1, 1))]
    assert findings_of(["BGM+929+1020700300058500001+99", *BODY[1:]]) == [("12", at(2, "BGM", 3))]


def test_code_lists_of_another_agency_are_not_checked() -> None:
    assert findings_of(["BGM+CAD::ZZZ+1020700300058500001+9", *BODY[1:]]) == []
    assert findings_of(["BGM+CAD::6+1020700300058500001+9", *BODY[1:]]) == [("12", at(2, "BGM", 1, 1))]


def test_every_finding_is_returned() -> None:
    body = ["BGM+999+" + "1" * 36 + "+9", "CST++AB", "CST++AB", *HEADER[2:], "ZZZ", *LINE, *SUMMARY]
    assert [code for code, _ in findings_of(body)] == ["12", "39", "35", "15"]


# Robustness ------------------------------------------------------------------------------


def test_random_order_and_junk_never_raise() -> None:
    rng = random.Random(9735)
    pool = [*BODY, "ZZZ+1", "UCI+1+A+B+7", "GIS", "X", "NAD", "MOA+::::::", "DTM+" + "9" * 90, "UNT+1", "UNH+2"]
    validator = default_validator()
    for _ in range(300):
        body = rng.sample(pool, rng.randint(0, len(pool)))
        for decimal in (".", ","):
            for message in read_back(body, decimal=decimal):
                for finding in validator.validate(message, decimal):
                    assert finding.location.segment is not None and finding.message


def test_the_fast_check_never_accepts_what_the_slow_path_rejects() -> None:
    rng = random.Random(96)
    directory = load_directory()
    alphabet = ["", "", "1", "929", "ZZZ", "6", "AB", "12.5", "1,5", "-3", ".5", "X" * 40, "9" * 19, "é"]
    for definition in directory.segments.values():
        for mark in (".", ","):
            check = compile_segment(definition, directory.codes, mark)
            for _ in range(300):
                elements = [[rng.choice(alphabet) for _ in range(rng.randint(1, 4))] for _ in range(rng.randint(0, 6))]
                if check.passes_text(joined(elements)):
                    assert check.findings(Segment(definition.tag, elements), 2, "1") == [], elements


# Fixed-length and one-digit numeric elements (n3, n1): D.96B as we define it has
# none, but a definition may; the compiled check must agree with the slow path.
_FIXED_NUMERICS = parse_directory(
    {
        "elements": "9101 n3 Three digits\n9102 n1 One digit\n9103 n2 Two digits\n",
        "composites": "",
        "segments": "ZZN 9101 9102? 9103?\n",
        "messages": "",
        "codes": "",
    }
)


@pytest.mark.parametrize(
    "elements",
    [
        [["123"]],
        [["12"]],
        [["1234"]],
        [["1.23"]],
        [["12.3"]],
        [["1.2"]],
        [["-123"]],
        [["12."]],
        [["123"], ["5"]],
        [["123"], ["55"]],
        [["123"], ["5."]],
        [["123"], [".5"]],
        [["123"], [""], ["12"]],
        [["123"], [""], ["1.2"]],
        [["123"], [""], ["1.23"]],
        [["123"], [""], ["1"]],
    ],
)
def test_fixed_length_numerics_compile_and_agree_with_the_slow_path(elements: list[list[str]]) -> None:
    definition = _FIXED_NUMERICS.segments["ZZN"]
    check = compile_segment(definition, _FIXED_NUMERICS.codes, ".")
    segment = Segment("ZZN", elements)
    found = check.findings(segment, 1, "1")
    if check.passes(elements):  # the regex may leave an odd valid value ("5.") to the slow path
        assert found == []
    if all(value.isdigit() or value == "" for element in elements for value in element):
        assert check.passes(elements) == (found == [])


def test_a_contrl_builder_without_segments_counts_the_verdicts_and_writes_nothing() -> None:
    inbound = next(e.header for e in _events("UNB+UNOC:3+BROKER01:ZZZ+CARMGW:ZZZ+250115:0930+IC1'"))
    counting = ContrlBuilder(inbound, segments=False)
    counting.add(MessageVerdict("1", ("CUSDEC", "D", "96B", "UN"), True))
    assert counting.action([]) == "7"  # one accepted message: acknowledged
    counting.add(MessageVerdict("2", ("CUSDEC", "D", "96B", "UN"), False))
    assert (counting.accepted, counting.rejected, counting.action([])) == (1, 1, "7")
    with pytest.raises(RuntimeError, match="counted the verdicts only"):
        counting.write(io.BytesIO(), our_id=("CARMGW", "ZZZ"), control_reference="C1", interchange_findings=[])
