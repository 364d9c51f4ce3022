"""Unit tests for validators.envelope: inputs built inline, expectations by hand."""

from __future__ import annotations

import io

from diagnostics import Finding
from parsers.edifact.model import InterchangeEnd, MessageRead
from parsers.edifact.reader import read_edifact
from validators.envelope import EnvelopeValidator, validate_envelopes

UNB = "UNB+UNOC:3+SENDER:ZZ+RECIPIENT:ZZ+250101:1200+REF1'"


def check(data: str) -> list[Finding]:
    events = read_edifact(io.BytesIO(data.encode("latin-1")))
    return [f for _, findings in validate_envelopes(events) for f in findings]


def where(finding: Finding) -> tuple:
    loc = finding.location
    return (loc.message_ref, loc.segment, loc.tag, loc.element, loc.component)


def test_valid_interchange_has_no_findings():
    data = UNB + "UNH+1+X:D:1:UN'BGM+1'UNT+3+1'UNH+2+X:D:1:UN'UNT+2+2'UNZ+2+REF1'"
    assert check(data) == []


def test_counts_with_leading_zeros_are_numbers():
    data = UNB + "UNH+1+X:D:1:UN'UNT+002+1'UNZ+0001+REF1'"
    assert check(data) == []


def test_unz_control_reference_mismatch():
    (finding,) = check(UNB + "UNZ+0+OTHER'")
    assert finding.code == "28"
    assert finding.message == "UNZ control reference 'OTHER' does not match UNB 'REF1'"
    assert where(finding) == (None, 2, "UNZ", 2, None)


def test_unz_message_count_mismatch():
    (finding,) = check(UNB + "UNH+1+X:D:1:UN'UNT+2+1'UNZ+3+REF1'")
    assert finding.code == "29"
    assert finding.message == "UNZ 0036 says 3 messages, the interchange has 1"
    assert where(finding) == (None, 4, "UNZ", 1, None)


def test_unz_counts_groups_when_groups_are_used():
    data = UNB + "UNG+X+S+R+250101:1200+G1'UNH+1+X:D:1:UN'UNT+2+1'UNH+2+X:D:1:UN'UNT+2+2'UNE+2+G1'" + "UNZ+1+REF1'"
    assert check(data) == []
    (finding,) = check(data.replace("UNZ+1+", "UNZ+2+"))
    assert finding.code == "29" and finding.message == "UNZ 0036 says 2 groups, the interchange has 1"


def test_une_checks():
    data = UNB + "UNG+X+S+R+250101:1200+G1'UNH+1+X:D:1:UN'UNT+2+1'UNE+2+G2'UNZ+1+REF1'"
    count, reference = check(data)
    assert count.code == "29" and count.message == "UNE 0060 says 2 messages, the group has 1"
    assert where(count) == (None, 5, "UNE", 1, None)
    assert reference.code == "28" and reference.message == "UNE group reference 'G2' does not match UNG 'G1'"
    assert where(reference) == (None, 5, "UNE", 2, None)


def test_unt_segment_count_mismatch():
    (finding,) = check(UNB + "UNH+1+X:D:1:UN'BGM+1'UNT+12+1'UNZ+1+REF1'")
    assert finding.code == "29"
    assert finding.message == "UNT 0074 says 12 segments, message 1 has 3"
    assert where(finding) == ("1", 3, "UNT", 1, None)


def test_unt_reference_mismatch():
    (finding,) = check(UNB + "UNH+1+X:D:1:UN'UNT+2+9'UNZ+1+REF1'")
    assert finding.code == "28"
    assert finding.message == "UNT message reference '9' does not match UNH '1'"
    assert where(finding) == ("1", 2, "UNT", 2, None)


def test_non_numeric_and_missing_counts():
    bad, missing = check(UNB + "UNH+1+X:D:1:UN'UNT+X2+1'UNZ++REF1'")
    assert (bad.code, bad.message) == ("12", "UNT 0074 'X2' is not a number")
    assert (missing.code, missing.message) == ("13", "UNZ 0036 control count is missing")


def test_duplicate_message_reference():
    data = UNB + "UNH+1+X:D:1:UN'UNT+2+1'UNH+1+X:D:1:UN'UNT+2+1'UNZ+2+REF1'"
    (finding,) = check(data)
    assert finding.code == "26"
    assert where(finding) == ("1", 1, "UNH", 1, None)


def test_same_reference_in_another_interchange_is_fine():
    one = UNB + "UNH+1+X:D:1:UN'UNT+2+1'UNZ+1+REF1'"
    two = UNB.replace("REF1", "REF2") + "UNH+1+X:D:1:UN'UNT+2+1'UNZ+1+REF2'"
    assert check(one + two) == []


def test_the_same_interchange_twice_in_one_file_is_a_duplicate():
    one = UNB + "UNH+1+X:D:1:UN'UNT+2+1'UNZ+1+REF1'"
    (finding,) = check(one + one)
    assert finding.code == "26" and "'REF1' earlier in this file" in finding.message
    assert where(finding) == (None, 1, "UNB", 5, None)
    assert [f.code for f in check(one + one + one)] == ["26", "26"]


def test_another_sender_or_qualifier_may_use_the_same_reference():
    one = UNB + "UNH+1+X:D:1:UN'UNT+2+1'UNZ+1+REF1'"
    assert check(one + one.replace("SENDER:ZZ", "OTHER:ZZ") + one.replace("SENDER:ZZ", "SENDER:14")) == []


def test_unh_without_message_identifier_is_missing_it():
    (finding,) = check(UNB + "UNH+1+:D:96B:UN'UNT+2+1'UNZ+1+REF1'")
    assert (finding.code, finding.message) == ("13", "UNH 0065 message type is missing")
    assert where(finding) == ("1", 1, "UNH", 2, 1)
    findings = check(UNB + "UNH+1'UNT+2+1'UNZ+1+REF1'")
    assert [(f.code, where(f)[3:]) for f in findings] == [
        ("13", (2, 1)),
        ("13", (2, 2)),
        ("13", (2, 3)),
        ("13", (2, 4)),
    ]


def test_unb_date_and_time_are_checked():
    def unb_findings(date_time: str, version: str = "3") -> list[tuple[str, int | None]]:
        unb = UNB.replace("250101:1200", date_time).replace("UNOC:3", f"UNOC:{version}")
        return [(f.code, f.location.component) for f in check(unb + "UNZ+0+REF1'")]

    assert unb_findings("19101:118") == [("40", 1), ("40", 2)]
    assert unb_findings("250101:1200") == [] and unb_findings("000229:0000") == [] and unb_findings("991231:2359") == []
    assert unb_findings("20250101:1200") == [("39", 1)]
    assert unb_findings("20250101:1200", "4") == [] and unb_findings("250101:1200", "4") == []
    assert unb_findings("2025010:1200", "4") == [("12", 1)]
    assert unb_findings("250230:2400") == [("12", 1), ("12", 2)]
    assert unb_findings("25O101:12h0") == [("37", 1), ("37", 2)]
    assert unb_findings("250101:12000") == [("39", 2)]
    (finding, _time) = check(UNB.replace("250101:1200", "19101:118") + "UNZ+0+REF1'")
    assert finding.message == "UNB 0017 date of preparation '19101' is 5 digits, YYMMDD has 6"
    assert where(finding) == (None, 1, "UNB", 4, 1)


def test_unz_reference_with_an_extra_component_is_one_too_many_not_a_mismatch():
    (finding,) = check(UNB + "UNZ+0+REF1:X'")
    assert finding.code == "16" and "UNZ 0020" in finding.message
    assert where(finding) == (None, 2, "UNZ", 2, 2)
    (finding,) = check(UNB + "UNZ+0+REF1+X'")
    assert (finding.code, where(finding)) == ("16", (None, 2, "UNZ", 3, None))
    (finding,) = check(UNB + "UNG+X+S+R+250101:1200+G1'UNE+0+G1:X'UNZ+1+REF1'")
    assert (finding.code, where(finding)) == ("16", (None, 3, "UNE", 2, 2))


def test_groups_and_bare_messages_are_not_mixed():
    data = (
        UNB
        + "UNH+1+X:D:1:UN'UNT+2+1'"
        + "UNG+X+S+R+250101:1200+G1'UNH+2+X:D:1:UN'UNT+2+2'UNE+1+G1'"
        + "UNH+3+X:D:1:UN'UNT+2+3'"
        + "UNZ+1+REF1'"
    )
    findings = check(data)
    assert [(f.code, f.location.tag) for f in findings] == [("15", "UNG"), ("15", "UNH")]  # UNZ counts the group
    assert where(findings[0]) == (None, 4, "UNG", None, None)
    assert where(findings[1]) == ("3", 1, "UNH", None, None)


def test_unb_mandatory_elements_and_syntax_version():
    findings = check("UNB+UNOC:5+:ZZ+R+250101+REF1'UNZ+0+REF1'")
    assert [(f.code, f.location.element, f.location.component) for f in findings] == [
        ("13", 2, 1),
        ("13", 4, 2),
        ("2", 1, 2),
    ]
    assert findings[0].message == "UNB 0004 interchange sender identification is missing"
    assert findings[2].message == "UNB syntax version '5' is not supported (expected 1 to 4)"


def test_missing_trailers_are_left_to_the_reader():
    assert check(UNB + "UNH+1+X:D:1:UN'BGM+1'") == []


def test_observe_returns_findings_per_event():
    validator = EnvelopeValidator()
    events = list(read_edifact(io.BytesIO((UNB + "UNH+1+X:D:1:UN'UNT+5+1'UNZ+1+WRONG'").encode())))
    results = [(type(e).__name__, [f.code for f in validator.observe(e)]) for e in events]
    assert results == [("InterchangeStart", []), ("MessageRead", ["29"]), ("InterchangeEnd", ["28"])]
    assert isinstance(events[1], MessageRead) and isinstance(events[2], InterchangeEnd)
