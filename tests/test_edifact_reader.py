"""Unit tests for parsers.edifact.reader: inputs built inline, expectations by hand."""

from __future__ import annotations

import io
import random
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diagnostics import Finding
from parsers.edifact.model import (
    Delimiters,
    Event,
    GroupEnd,
    GroupStart,
    InterchangeEnd,
    InterchangeStart,
    Message,
    MessageRead,
    SyntaxProblem,
)
from parsers.edifact.reader import read_edifact

UNB = "UNB+UNOC:3+SENDER:ZZ+RECIPIENT:ZZ+250101:1200+REF1'"
MSG = "UNH+1+CUSDEC:D:96B:UN'BGM+929+X1+9'UNT+3+1'"
UNZ = "UNZ+1+REF1'"


def read(data: bytes | str, chunk_size: int = 1 << 20, *, keep_line_breaks: bool = False) -> list[Event]:
    raw = data.encode("latin-1") if isinstance(data, str) else data
    return list(read_edifact(io.BytesIO(raw), chunk_size=chunk_size, keep_line_breaks=keep_line_breaks))


def kinds(events: list[Event]) -> list[str]:
    return [type(e).__name__ for e in events]


def messages(events: list[Event]) -> list[Message]:
    return [e.message for e in events if isinstance(e, MessageRead)]


def problems(events: list[Event]) -> list[Finding]:
    return [e.finding for e in events if isinstance(e, SyntaxProblem)]


def header(events: list[Event]):
    return next(e.header for e in events if isinstance(e, InterchangeStart))


def body(events: list[Event]) -> list[tuple[str, list[list[str]]]]:
    return [(s.tag, s.elements) for m in messages(events) for s in m.segments]


# Delimiters -------------------------------------------------------------------


def test_default_delimiters_without_una():
    events = read(UNB + MSG + UNZ)
    assert kinds(events) == ["InterchangeStart", "MessageRead", "InterchangeEnd"]
    h = header(events)
    assert h.delimiters == Delimiters()
    assert not h.una_present
    assert (h.sender, h.sender_qualifier, h.recipient, h.control_reference) == (
        "SENDER",
        "ZZ",
        "RECIPIENT",
        "REF1",
    )
    assert (h.prepared_date, h.prepared_time, h.syntax_identifier, h.syntax_version) == (
        "250101",
        "1200",
        "UNOC",
        "3",
    )
    assert body(events)[1] == ("BGM", [["929"], ["X1"], ["9"]])
    assert problems(events) == []


def test_una_sets_delimiters():
    data = "UNA=*,! ~UNB*UNOC=3*S*R*250101=1200*R1~UNH*1*ORDERS=D=96A=UN~MOA*203=12,5!*!~~UNT*3*1~UNZ*1*R1~"
    events = read(data)
    h = header(events)
    assert h.una_present
    assert h.delimiters == Delimiters(
        component="=", element="*", decimal=",", release="!", repetition=None, terminator="~"
    )
    assert body(events)[1] == ("MOA", [["203", "12,5*~"]])
    assert problems(events) == []


def test_control_character_delimiters_for_level_b_without_una():
    data = (
        b"UNB\x1dUNOB\x1f3\x1dS\x1dR\x1d250101\x1f1200\x1dR1\x1c"
        b"UNH\x1d1\x1dORDERS\x1fD\x1f96A\x1fUN\x1cFTX\x1dAAI\x1d\x1d\x1dWhat? yes\x1c"
        b"UNT\x1d3\x1d1\x1cUNZ\x1d1\x1dR1\x1c"
    )
    events = read(data)
    assert header(events).delimiters == Delimiters(component="\x1f", element="\x1d", release=None, terminator="\x1c")
    assert body(events)[1] == ("FTX", [["AAI"], [""], [""], ["What? yes"]])
    assert problems(events) == [] and messages(events)[0].findings == []


def test_version_4_default_repetition_separator_is_asterisk():
    data = "UNB+UNOC:4+S+R+250101:1200+R1'UNH+1+X:D:1:UN'COM+1:TE*2:FX+3'UNT+3+1'UNZ+1+R1'"
    events = read(data)
    assert header(events).delimiters.repetition == "*"
    com = messages(events)[0].segments[1]
    assert com.elements == [["1", "TE"], ["3"]]
    assert com.repetitions == {1: [["1", "TE"], ["2", "FX"]]}


def test_version_4_una_reserved_position_is_the_repetition_separator():
    data = "UNA:+.?^'UNB+UNOC:4+S+R+250101:1200+R1'UNH+1+X:D:1:UN'COM+A^B?^C'UNT+3+1'UNZ+1+R1'"
    com = messages(read(data))[0].segments[1]
    assert com.elements == [["A"]]
    assert com.repetitions == {1: [["A"], ["B^C"]]}


def test_version_3_una_reserved_position_is_not_a_repetition_separator():
    data = "UNA:+.?*'UNB+UNOC:3+S+R+250101:1200+R1'UNH+1+X:D:1:UN'COM+1*2'UNT+3+1'UNZ+1+R1'"
    events = read(data)
    assert header(events).delimiters.repetition is None
    com = messages(events)[0].segments[1]
    assert com.elements == [["1*2"]] and com.repetitions is None


def test_unb_is_not_split_on_repetition_separator():
    data = "UNA:+.?*'UNB+UNOA:4+APIS*ABE+R+250101:1200+R1'UNZ+0+R1'"
    assert header(read(data)).sender == "APIS*ABE"


def test_una_with_one_character_for_two_functions_is_reported_and_ignored():
    events = read("UNA::.? 'UNB+UNOC:3+S+R+250101:1200+R1'UNZ+0+R1'")
    assert [f.code for f in problems(events)] == ["20"]
    assert header(events).delimiters == Delimiters()


# Release character ------------------------------------------------------------


@pytest.mark.parametrize(
    ("segment", "elements"),
    [
        ("FTX+O?'BRIEN", [["O'BRIEN"]]),
        ("FTX+A?+B+C", [["A+B"], ["C"]]),
        ("FTX+A?:B:C", [["A:B", "C"]]),
        ("FTX+END??", [["END?"]]),
        ("FTX+A??+B", [["A?"], ["B"]]),
        ("FTX+A???+B", [["A?+B"]]),
        ("FTX+1??:2", [["1?", "2"]]),
        ("FTX+WHAT?, NOW", [["WHAT, NOW"]]),
    ],
)
def test_release_character(segment, elements):
    data = f"{UNB}UNH+1+X:D:1:UN'{segment}'UNT+3+1'{UNZ}"
    assert body(read(data))[1] == ("FTX", elements)


def test_released_terminator_across_chunk_boundaries():
    data = f"{UNB}UNH+1+X:D:1:UN'FTX+A?'B??'UNT+3+1'{UNZ}"
    for size in (1, 2, 3, 5, 8):
        assert body(read(data, chunk_size=size))[1] == ("FTX", [["A'B?"]])


def test_release_character_with_utf8_noncharacter_takes_slow_path():
    data = ("UNB+UNOW:4+S+R+250101:1200+R1'UNH+1+X:D:1:UN'FTX+\ufdd0?+x:y'UNT+3+1'UNZ+1+R1'").encode("utf-8")
    assert body(read(data))[1] == ("FTX", [["\ufdd0+x", "y"]])


# Leading junk, BOM, blanks ----------------------------------------------------


def test_bom_and_blanks_before_unb_are_silent():
    data = b"\xef\xbb\xbf \r\n" + (UNB + MSG + UNZ).encode()
    events = read(data, chunk_size=2)
    assert problems(events) == []
    assert header(events).segment.offset == 6


def test_header_line_before_una_is_reported():
    data = "DOC+01=x+02=y'\r\nUNA:+.? '" + UNB + MSG + UNZ
    events = read(data)
    found = problems(events)
    assert [f.code for f in found] == ["15"]
    assert "16 bytes" in found[0].message and "DOC+01=x" in found[0].message
    assert kinds(events)[1:] == ["InterchangeStart", "MessageRead", "InterchangeEnd"]


def test_line_breaks_and_blanks_between_segments_are_ignored():
    data = UNB + "\r\n  UNH+1+X:D:1:UN'\n\tBGM+1'\r\nUNT+3+1'\n" + UNZ + "\r\n\x1a"
    events = read(data)
    assert [t for t, _ in body(events)] == ["UNH", "BGM", "UNT"]
    assert problems(events) == []


def test_segment_offsets_and_positions():
    data = UNB + " UNH+1+X:D:1:UN' UNT+2+1' " + UNZ
    events = read(data)
    unh, unt = messages(events)[0].segments
    assert (unh.position, unh.offset) == (2, len(UNB) + 1)
    assert (unt.position, unt.offset) == (3, len(UNB) + 1 + 15 + 1)  # UNH segment is 15 bytes
    end = events[-1]
    assert isinstance(end, InterchangeEnd) and end.segment_count == 4 and end.trailer.position == 4


def test_offsets_count_the_bytes_without_layout_line_breaks():
    data = UNB + "\r\nUNH+1+X:D:1:UN'\r\nUNT+2+1'\n" + UNZ
    unh, unt = messages(read(data))[0].segments
    assert (unh.offset, unt.offset) == (len(UNB), len(UNB) + 15)
    unh, unt = messages(read(data, keep_line_breaks=True))[0].segments
    assert (unh.offset, unt.offset) == (len(UNB) + 2, len(UNB) + 2 + 15 + 2)


# Line breaks inside segments ----------------------------------------------------


def test_line_break_inside_a_value_is_layout_unless_the_partner_sends_it_as_data():
    data = f"{UNB}UNH+1+X:D:1:UN'FTX+AAI+++LINE ONE\nLINE TWO'UNT+3+1'{UNZ}"
    assert body(read(data))[1] == ("FTX", [["AAI"], [""], [""], ["LINE ONELINE TWO"]])
    assert body(read(data, keep_line_breaks=True))[1] == ("FTX", [["AAI"], [""], [""], ["LINE ONE\nLINE TWO"]])


def test_line_break_as_terminator_is_kept_and_other_breaks_are_dropped():
    data = "UNA:+.? \nUNB+UNOC:3+S+R+250101:1200+R1\r\nUNH+1+X:D:1:UN\r\nFTX+AAI+++A\rB\r\nUNT+3+1\nUNZ+1+R1\n"
    events = read(data)
    assert body(events)[1] == ("FTX", [["AAI"], [""], [""], ["AB"]])
    assert header(events).control_reference == "R1" and events[-1].trailer.elements == [["1"], ["R1"]]
    assert problems(events) == [] and messages(events)[0].findings == []


def test_the_unz_and_unh_of_a_wrapped_file_hold_no_line_break():
    """The two cases of the issue: a false 28 and a message type 'D:\\n96A'."""
    data = "UNB+UNOC:3+S+R+250101:1200+01001386'UNH+1+INVOIC:D:\n96A:UN'UNT+2+1'UNZ+1+0100\r\n1386'"
    events = read(data)
    assert (messages(events)[0].version, messages(events)[0].release) == ("D", "96A")
    assert events[-1].trailer.elements == [["1"], ["01001386"]]


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 64])
def test_a_crlf_on_a_chunk_edge_is_dropped(chunk_size):
    flat = UNB + "UNH+1+CUSDEC:D:96B:UN'FTX+AAI+++RELEASED ?' QUOTE'UNT+3+1'" + UNZ
    for at in range(len(UNB), len(flat)):
        wrapped = flat[:at] + "\r\n" + flat[at:]
        assert body(read(wrapped, chunk_size)) == body(read(flat)), (chunk_size, at)


def test_line_break_inside_a_tag_is_removed():
    data = f"{UNB}UNH+1+X:D:1:UN'BG\r\nM+1'UNT+3+1'{UNZ}"
    assert body(read(data))[1] == ("BGM", [["1"]])


def test_wrapped_interchange_drops_every_line_break():
    flat = "UNB+UNOA:3+SENDER:1+RECIPIENT:1+060515:1434+00000000000778'UNH+1+INVOIC:D:97B:UN'NAD+BY+792820524::16++CUMMINS PLANT'UNT+3+1'UNZ+1+00000000000778'"
    wrapped = "\n".join(flat[i : i + 17] for i in range(0, len(flat), 17))
    events = read(wrapped)
    assert header(events).control_reference == "00000000000778"
    assert body(events) == body(read(flat))
    assert body(events)[1] == ("NAD", [["BY"], ["792820524", "", "16"], [""], ["CUMMINS PLANT"]])
    assert events[-1].trailer.elements == [["1"], ["00000000000778"]]


# Character sets -----------------------------------------------------------------


def test_unoc_decodes_latin1():
    data = "UNB+UNOC:3+S+R+250101:1200+R1'UNH+1+X:D:1:UN'NAD+BY+++Müller'UNT+3+1'UNZ+1+R1'"
    events = read(data.encode("latin-1"))
    assert header(events).encoding == "latin-1"
    assert body(events)[1] == ("NAD", [["BY"], [""], [""], ["Müller"]])


def test_unoy_decodes_utf8():
    data = "UNB+UNOY:4+S+R+250101:1200+R1'UNH+1+X:D:1:UN'NAD+BY+++Łódź Ελλάδα'UNT+3+1'UNZ+1+R1'"
    events = read(data.encode("utf-8"), chunk_size=3)
    assert header(events).encoding == "utf-8"
    assert body(events)[1] == ("NAD", [["BY"], [""], [""], ["Łódź Ελλάδα"]])


@pytest.mark.parametrize(
    ("identifier", "codec", "text"),
    [("UNOD", "iso8859-2", "Łódź"), ("UNOE", "iso8859-5", "Москва"), ("UNOF", "iso8859-7", "Αθήνα")],
)
def test_iso8859_levels(identifier, codec, text):
    data = f"UNB+{identifier}:3+S+R+250101:1200+R1'UNH+1+X:D:1:UN'LOC+1+{text}'UNT+3+1'UNZ+1+R1'"
    events = read(data.encode(codec))
    assert header(events).encoding == codec
    assert body(events)[1] == ("LOC", [["1"], [text]])
    assert messages(events)[0].findings == []


def test_unknown_syntax_identifier_decodes_latin1_and_reports_code_2():
    events = read("UNB+IATB:1+S+R+250101:1200+R1'UNZ+0+R1'")
    assert header(events).encoding == "latin-1"
    (finding,) = problems(events)
    assert finding.code == "2"
    assert (finding.location.segment, finding.location.tag) == (1, "UNB")
    assert (finding.location.element, finding.location.component) == (1, 1)
    assert kinds(events) == ["InterchangeStart", "SyntaxProblem", "InterchangeEnd"]


def test_undecodable_bytes_are_replaced_and_reported_once_per_segment():
    data = b"UNB+UNOY:4+S+R+250101:1200+R1'UNH+1+X:D:1:UN'NAD+BY+A:B\xff\xfe+\xff'UNT+3+1'UNZ+1+R1'"
    events = read(data)
    message = messages(events)[0]
    assert message.segments[1].elements == [["BY"], ["A", "B\ufffd\ufffd"], ["\ufffd"]]
    (finding,) = message.findings
    assert finding.code == "21"
    loc = finding.location
    assert (loc.message_ref, loc.segment, loc.tag, loc.element, loc.component) == ("1", 2, "NAD", 2, 2)


def test_unoa_rejects_lower_case_at_the_first_offending_element():
    data = "UNB+UNOA:3+S+R+250101:1200+R1'UNH+1+X:D:1:UN'NAD+BY+OK+Smith+jones'UNT+3+1'UNZ+1+R1'"
    (finding,) = messages(read(data))[0].findings
    assert finding.code == "21" and "'m'" in finding.message
    assert (finding.location.element, finding.location.component) == (3, None)


def test_unob_allows_lower_case_but_not_national_characters():
    ok = "UNB+UNOB:3+S+R+250101:1200+R1'UNH+1+X:D:1:UN'NAD+BY+Smith_jones'UNT+3+1'UNZ+1+R1'"
    assert messages(read(ok))[0].findings == []
    bad = "UNB+UNOB:3+S+R+250101:1200+R1'UNH+1+X:D:1:UN'COM+a@b.example:EM'UNT+3+1'UNZ+1+R1'"
    (finding,) = messages(read(bad))[0].findings
    assert finding.code == "21" and "'@'" in finding.message
    assert (finding.location.element, finding.location.component) == (1, 1)


# Envelope structure ---------------------------------------------------------------


def test_groups_and_several_interchanges_each_with_own_una():
    first = "UNA:+.? 'UNB+UNOC:3+S+R+250101:1200+A'UNG+CUSDEC+S+R+250101:1200+G1+UN+D:96B'" + MSG
    first += "UNE+1+G1'UNZ+1+A'"
    second = "UNA=*.? ~UNB*UNOC=3*S*R*250101=1200*B~UNH*7*X=D=1=UN~UNT*2*7~UNZ*1*B~"
    events = read(first + "\n" + second, chunk_size=16)
    assert kinds(events) == [
        "InterchangeStart",
        "GroupStart",
        "MessageRead",
        "GroupEnd",
        "InterchangeEnd",
        "InterchangeStart",
        "MessageRead",
        "InterchangeEnd",
    ]
    group = next(e for e in events if isinstance(e, GroupStart)).group
    assert group.reference == "G1"
    assert next(e for e in events if isinstance(e, GroupEnd)).trailer.elements == [["1"], ["G1"]]
    assert [m.reference for m in messages(events)] == ["1", "7"]
    assert problems(events) == []


def test_bare_messages_without_unb():
    events = read("UNA:+.? '" + MSG + "\n" + MSG)
    assert kinds(events) == ["SyntaxProblem", "MessageRead", "MessageRead"]
    (finding,) = problems(events)
    assert finding.code == "13" and "UNB" in finding.message
    assert (finding.location.segment, finding.location.tag) == (1, "UNH")


def test_unh_before_unt_closes_the_previous_message():
    data = f"{UNB}UNH+1+X:D:1:UN'BGM+1'UNH+2+X:D:1:UN'UNT+2+2'UNZ+2+REF1'"
    events = read(data)
    first, second = messages(events)
    assert [s.tag for s in first.segments] == ["UNH", "BGM"] and first.trailer is None
    (finding,) = first.findings
    assert finding.code == "13" and "UNT" in finding.message
    assert (finding.location.message_ref, finding.location.segment, finding.location.tag) == ("1", 3, "UNT")
    assert second.findings == [] and second.trailer is not None


def test_missing_unz_at_end_of_file():
    events = read(UNB + MSG)
    assert kinds(events) == ["InterchangeStart", "MessageRead", "SyntaxProblem", "InterchangeEnd"]
    assert events[-1].trailer is None and events[-1].segment_count == 4
    assert problems(events)[0].code == "13" and "UNZ" in problems(events)[0].message


def test_missing_une_is_closed_with_groupend_none():
    data = UNB + "UNG+X+S+R+250101:1200+G1'" + MSG + UNZ
    events = read(data)
    assert kinds(events) == [
        "InterchangeStart",
        "GroupStart",
        "MessageRead",
        "SyntaxProblem",
        "GroupEnd",
        "InterchangeEnd",
    ]
    assert events[4].trailer is None and problems(events)[0].code == "13"


def test_new_unb_before_unz_closes_the_interchange():
    events = read(UNB + MSG + UNB + MSG + UNZ)
    assert kinds(events) == [
        "InterchangeStart",
        "MessageRead",
        "SyntaxProblem",
        "InterchangeEnd",
        "InterchangeStart",
        "MessageRead",
        "InterchangeEnd",
    ]
    assert events[3].trailer is None


def test_segments_after_unz_are_reported():
    events = read(UNB + MSG + UNZ + "\nFOO+BAR'\n")
    (finding,) = problems(events)
    assert finding.code == "15" and "FOO+BAR" in finding.message and "after" in finding.message


def test_segment_outside_message_is_reported():
    events = read(UNB + "BGM+1'" + MSG + UNZ)
    (finding,) = problems(events)
    assert finding.code == "15"
    assert (finding.location.segment, finding.location.tag) == (2, "BGM")


def test_final_segment_without_terminator():
    events = read(UNB + MSG + "UNZ+1+REF1")
    assert isinstance(events[-1], InterchangeEnd)
    assert events[-1].trailer.elements == [["1"], ["REF1"]]
    (finding,) = problems(events)
    assert finding.code == "13" and "terminator" in finding.message
    assert (finding.location.segment, finding.location.tag) == (5, "UNZ")


def test_unterminated_segment_inside_message_is_a_message_finding():
    events = read(UNB + "UNH+1+X:D:1:UN'FTX+LAST")
    message = messages(events)[0]
    assert [f.code for f in message.findings] == ["13", "13"]
    assert message.findings[0].location.tag == "FTX" and "terminator" in message.findings[0].message


def test_oversized_segment_is_skipped_and_reported():
    data = f"{UNB}UNH+1+X:D:1:UN'FTX+{'A' * 500}'UNT+3+1'{UNZ}"
    events = list(read_edifact(io.BytesIO(data.encode()), chunk_size=64, max_segment_bytes=100))
    message = messages(events)[0]
    assert [s.tag for s in message.segments] == ["UNH", "UNT"]
    assert [f.code for f in problems(events)] == ["18"]


# Garbage ------------------------------------------------------------------------


def test_empty_file():
    (event,) = read(b"")
    assert isinstance(event, SyntaxProblem) and event.finding.message == "empty file"


def test_blank_file():
    (event,) = read(b"\r\n  \n")
    assert isinstance(event, SyntaxProblem) and event.finding.code == "13"


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n",
        b'<?xml version="1.0"?><Document><UNB>x</UNB></Document>',
        bytes(random.Random(7).randrange(256) for _ in range(5000)),
    ],
)
def test_garbage_is_not_an_interchange(data):
    events = read(data, chunk_size=7)
    (finding,) = problems(events)
    assert "not an EDIFACT interchange" in finding.message
    assert kinds(events) == ["SyntaxProblem"]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400), st.integers(1, 64))
def test_arbitrary_bytes_never_raise(data, chunk_size):
    events = read(b"UNA:+.? 'UNB+UNOA:4+" + data, chunk_size=chunk_size)
    assert events


# Round trip ---------------------------------------------------------------------

_SERVICE = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_TEXT = st.text(alphabet=string.ascii_letters + string.digits + " " + _SERVICE + "ÄÖÜäöüßéèçñ", max_size=8)


@st.composite
def delimiter_sets(draw) -> Delimiters:
    chars = draw(st.permutations(list(_SERVICE)))
    return Delimiters(
        component=chars[0],
        element=chars[1],
        decimal=draw(st.sampled_from(".,")),
        release=chars[2],
        repetition=draw(st.sampled_from([chars[3], None])),
        terminator=chars[4],
    )


def _escape(value: str, d: Delimiters) -> str:
    specials = {d.release, d.component, d.element, d.terminator} | ({d.repetition} if d.repetition else set())
    return "".join(f"{d.release}{c}" if c in specials else c for c in value)


def _serialize(tag: str, elements: list[list[str]], d: Delimiters) -> str:
    parts = [tag] + [d.component.join(_escape(c, d) for c in element) for element in elements]
    return d.element.join(parts) + d.terminator


_SEGMENTS = st.lists(
    st.tuples(
        st.text(alphabet=string.ascii_uppercase, min_size=3, max_size=3).filter(lambda t: not t.startswith("UN")),
        st.lists(st.lists(_TEXT, min_size=1, max_size=3), max_size=4),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(delimiter_sets(), _SEGMENTS, st.integers(1, 64), st.sampled_from(["\n", "\r\n", ""]))
def test_round_trip(d: Delimiters, segments, chunk_size, newline):
    version = "4" if d.repetition else "3"
    parts = [d.service_string(), _serialize("UNB", [["UNOC", version], ["S"], ["R"], ["250101", "1200"], ["R1"]], d)]
    parts.append(_serialize("UNH", [["1"], ["X", "D", "1", "UN"]], d))
    parts += [_serialize(tag, elements, d) for tag, elements in segments]
    parts += [_serialize("UNT", [[str(len(segments) + 2)], ["1"]], d), _serialize("UNZ", [["1"], ["R1"]], d)]
    events = read(newline.join(parts).encode("latin-1"), chunk_size=chunk_size)
    (message,) = messages(events)
    assert [(s.tag, s.elements) for s in message.segments[1:-1]] == [(t, e) for t, e in segments]
    assert message.findings == []
    assert problems(events) == []
