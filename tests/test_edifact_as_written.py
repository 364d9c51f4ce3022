"""EDIFACT as partners really write it: wrapped lines and bytes outside the
declared character set, as properties over the fixtures (issue 15, items 7 and 10).

A wrapped file (line breaks inserted anywhere after its first interchange
start, at a fixed width or at random places, LF, CRLF or CR) must be answered
exactly like its twin without line breaks: the same report and the same
acknowledgement bytes, through ``check_stream``; and read into the same events
wherever the reader's chunk edges fall. A byte outside the declared character
set, written into any value of a message, must draw a 21 at its segment.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.flows.contract import FlowOptions
from gateway.flows.dispatch import check_stream
from gateway.partners import Partner
from parsers.edifact.reader import read_edifact
from tests.edifact_helpers import FIXTURES
from tests.test_samples_corpus import _summary
from tests.test_syntax_fixtures import MemorySink

_START = re.compile(rb"UNA|UNB\+|UNH\+")
_NOW = dt.datetime(2025, 1, 15, 10, 0, tzinfo=dt.UTC)


def _wrappable(path: Path) -> bool:
    """Holds an interchange whose delimiters are no line breaks."""
    match = _START.search(path.read_bytes())
    if match is None:
        return False
    data = path.read_bytes()[match.start() :]
    return not (data.startswith(b"UNA") and set(data[3:9]) & set(b"\r\n"))


FILES = sorted(
    p for folder in ("cusdec", "edifact-syntax") for p in (FIXTURES / folder).rglob("*.edi") if _wrappable(p)
)


def _split(data: bytes) -> tuple[bytes, bytes]:
    """(what stays as written, what may be wrapped): the first UNA or the
    first 4 bytes of the first UNB/UNH stay, since a file's first interchange
    decides its delimiters before anything is dropped."""
    match = _START.search(data)
    assert match is not None
    keep = match.start() + (9 if match.group() == b"UNA" else 4)
    return data[:keep], data[keep:]


def _flat(data: bytes) -> bytes:
    head, rest = _split(data)
    return head + rest.replace(b"\r", b"").replace(b"\n", b"")


def _wrap(data: bytes, places: list[int], brk: bytes) -> bytes:
    head, rest = _split(_flat(data))
    cuts = sorted({min(p, len(rest)) for p in places})
    pieces = [rest[a:b] for a, b in zip([0, *cuts], [*cuts, len(rest)], strict=True)]
    return head + brk.join(pieces)


def _answer(data: bytes, partner: Partner | None = None) -> tuple[dict, dict[str, bytes]]:
    sink = MemorySink()
    options = FlowOptions(sink=sink, seed="twin", now=lambda: _NOW, partner=partner)
    report = check_stream(io.BytesIO(data), "twin.edi", options)
    return report.to_dict(), sink.files


@st.composite
def wrapped_twins(draw: st.DrawFn) -> tuple[Path, bytes, bytes]:
    path = draw(st.sampled_from(FILES))
    data = path.read_bytes()
    size = len(_split(_flat(data))[1])
    brk = draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
    if draw(st.booleans()):
        width = draw(st.sampled_from([80, 999]) | st.integers(1, 120))
        places = list(range(width, size, width))
    else:
        places = draw(st.lists(st.integers(0, size), max_size=40))
    return path, _flat(data), _wrap(data, places, brk)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(wrapped_twins())
def test_a_wrapped_file_is_answered_like_its_unwrapped_twin(case: tuple[Path, bytes, bytes]) -> None:
    path, flat, wrapped = case
    assert _answer(wrapped) == _answer(flat), path.name


@settings(max_examples=150, deadline=None, derandomize=True)
@given(wrapped_twins(), st.integers(1, 97))
def test_a_wrapped_file_reads_like_its_twin_wherever_a_chunk_ends(
    case: tuple[Path, bytes, bytes], chunk_size: int
) -> None:
    path, flat, wrapped = case
    events = list(read_edifact(io.BytesIO(wrapped), chunk_size=chunk_size))
    assert _summary(events) == _summary(list(read_edifact(io.BytesIO(flat)))), path.name


def test_every_fixture_wrapped_at_80_and_999_columns_with_crlf() -> None:
    for path in FILES:
        data = path.read_bytes()
        for width in (80, 999):
            wrapped = _wrap(data, list(range(width, len(data), width)), b"\r\n")
            assert _answer(wrapped) == _answer(_flat(data)), (path.name, width)


# A partner that really sends line breaks as data -----------------------------------

UNOA = FIXTURES / "edifact-syntax" / "valid" / "c01_unoa.edi"


def _partner(line_breaks: str) -> Partner:
    return Partner.model_validate(
        {
            "id": "broker01",
            "edifact_senders": [{"id": "BROKER01", "qualifier": "ZZZ"}],
            "importer_accounts": ["123456782RM0001"],
            "channel": {"type": "local", "path": "partners/broker01"},
            "edifact_line_breaks": line_breaks,
        }
    )


def test_a_partner_setting_keeps_line_breaks_as_data() -> None:
    data = UNOA.read_bytes().replace(b"MAPLE LEAF IMPORTS", b"MAPLE LEAF\r\nIMPORTS")
    layout, _ = _answer(data, _partner("layout"))
    assert layout["accepted"] is True
    kept, _ = _answer(data, _partner("data"))
    assert kept["accepted"] is False
    [error] = kept["documents"][0]["errors"]
    assert error["code"] == "21" and error["location"]["tag"] == "NAD" and error["location"]["segment"] == 9
    assert "'\\r'" in error["message"] and "UNOA" in error["message"]


def test_the_registry_refuses_an_unknown_line_break_setting() -> None:
    with pytest.raises(ValueError, match="edifact_line_breaks"):
        _partner("keep")


# Bytes outside the declared character set ---------------------------------------

_SETS = {
    "UNOA": (FIXTURES / "edifact-syntax" / "valid" / "c01_unoa.edi", st.sampled_from(b"abcxyz#@[]{}~\x7f\x85\xe9")),
    "UNOB": (FIXTURES / "edifact-syntax" / "valid" / "c02_unob.edi", st.sampled_from(b"#$@[]^`{}~\x85\xa0\xe9\xff")),
    "UNOC": (FIXTURES / "edifact-syntax" / "valid" / "c03_unoc.edi", st.integers(0x80, 0x9F)),
    "UNOY": (FIXTURES / "edifact-syntax" / "valid" / "c08_unoy.edi", st.integers(0x80, 0xBF) | st.integers(0xF8, 0xFF)),
}


_TERMINATOR = re.compile(rb"(?<!\?)'")  # the fixtures hold no released release character


@st.composite
def out_of_set(draw: st.DrawFn) -> tuple[str, bytes, int]:
    """A valid fixture with one byte outside its charset written into a value
    of a message segment, and that segment's position in the message (UNH = 1)."""
    charset = draw(st.sampled_from(sorted(_SETS)))
    path, bad_bytes = _SETS[charset]
    data = path.read_bytes()
    start = data.index(b"UNH+")
    end = data.index(b"UNT+")
    lines = _TERMINATOR.split(data[start:end])  # UNH, then the body, then the blank piece before UNT
    k = draw(st.integers(1, len(lines) - 2))  # a body segment (not UNH, not the empty piece before UNT)
    segment = lines[k].lstrip(b"\r\n")
    at = draw(st.integers(4, len(segment)))  # after the tag and its element separator
    if segment[at - 1 : at] == b"?":  # never right after a release character
        at -= 1
    lines[k] = lines[k][: len(lines[k]) - len(segment)] + segment[:at] + bytes([draw(bad_bytes)]) + segment[at:]
    return charset, data[:start] + b"'".join(lines) + data[end:], k + 1


@settings(max_examples=200, deadline=None, derandomize=True)
@given(out_of_set())
def test_a_byte_outside_the_declared_charset_draws_a_21_at_its_segment(case: tuple[str, bytes, int]) -> None:
    charset, data, position = case
    report, _ = _answer(data)
    assert report["accepted"] is False
    [document] = report["documents"]
    found = [e["location"] for e in document["errors"] if e["code"] == "21"]
    assert [(where["message_ref"], where["segment"]) for where in found] == [("1", position)], (charset, document)
